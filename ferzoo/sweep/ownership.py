"""The study's report folder: owner.json says which storage and study it belongs to.

`own_report_dir` makes the folder (`settings.study_dir`, `ferzoo.sweep.config.report_dir`) and
refuses one that holds another study's report, before anything is written in it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from typing import Any

from ferzoo import files
from ferzoo.sweep.config import SweepError, SweepSettings, storage_key
from ferzoo.sweep.storage import mask_url

OWNER_FILE = "owner.json"  # in a study's folder: the storage and study it belongs to


def _owner_of(settings: SweepSettings) -> dict[str, str]:
    root = os.path.dirname(os.path.abspath(settings.run.results_dir))
    return {
        "storage": storage_key(settings.run.storage_url, root),
        "study_name": settings.run.study_name,
        "url": mask_url(settings.run.storage_url),
    }


def _legacy_owner(folder: str, root: str) -> dict[str, str] | None:
    """In a folder from before owner.json: the storage and study its best.json names."""
    best = os.path.join(folder, "best.json")
    if not os.path.exists(best):
        return None
    record = files.read_json(best)
    if "storage" not in record or "study_name" not in record:
        return None
    url = record["storage"]  # masked: storage_key drops the password anyway
    return {"storage": storage_key(url, root), "study_name": record["study_name"], "url": url}


def own_report_dir(settings: SweepSettings) -> str:
    """Make the study's folder (`settings.study_dir`), check that it is this study's; return it.

    The folder's owner.json names the storage (`storage_key`) and study it belongs to. The first
    process to use the folder writes it, exclusively (a hard link to a finished file, which
    fails where the name exists), so of two processes one writes it and the other reads it. A
    folder that belongs to another storage or study is refused, never written over: its
    owner.json says so or, in a folder from before owner.json, its best.json does.

    Raises:
        SweepError: the folder holds another study's report.
    """
    folder = settings.study_dir
    mine = _owner_of(settings)
    path = os.path.join(folder, OWNER_FILE)
    owner = files.read_json(path) if os.path.exists(path) else None
    if owner is None:
        legacy = _legacy_owner(folder, os.path.dirname(os.path.abspath(settings.run.results_dir)))
        owner = legacy if legacy and not _same(legacy, mine) else _write_owner(path, mine)
    if not _same(owner, mine):
        raise SweepError(
            f"{folder} holds the report of study {owner.get('study_name')!r} in "
            f"{owner.get('url') or owner.get('storage')}, not of {settings.run.study_name!r} in "
            f"{mine['url']}; move that folder away or pass another --results-dir"
        )
    return folder


def _same(owner: Mapping[str, Any], mine: Mapping[str, Any]) -> bool:
    return (owner.get("storage"), owner.get("study_name")) == (mine["storage"], mine["study_name"])


def _write_owner(path: str, owner: dict[str, str]) -> dict[str, str]:
    """Write owner.json unless it exists; the owner it holds then."""
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(owner, indent=2) + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            return files.read_json(path)
    finally:
        os.remove(tmp)
    return owner


__all__ = ["OWNER_FILE", "own_report_dir"]
