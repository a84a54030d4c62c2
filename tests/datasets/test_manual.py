"""ferzoo.datasets.manual: finding a dataset in archives nested inside archives."""

import tarfile
import zipfile
from types import SimpleNamespace

import pytest

from ferzoo.datasets import manual

# Backend-independent: run once, on TensorFlow (scripts/test.sh).
pytestmark = pytest.mark.backend_free


def _dl(tmp_path):
    """Stands in for the download manager: only its extract folder is used."""
    return SimpleNamespace(_extract_dir=tmp_path / "extracted")


def _has_marker(tree, folder):
    return any(f.name == "marker.txt" for f in tree.files(folder))


def _nest(tmp_path, levels):
    """manual/outer.zip holding level1.tar.gz holding ... holding data/marker.txt."""
    inner = tmp_path / "payload"
    (inner / "data").mkdir(parents=True)
    (inner / "data" / "marker.txt").write_text("x")
    current = inner
    for level in range(levels, 0, -1):
        archive = tmp_path / f"level{level}.tar.gz"
        with tarfile.open(archive, "w:gz") as tf:
            for path in sorted(current.rglob("*")):
                tf.add(path, arcname=path.relative_to(current).as_posix(), recursive=False)
        current = tmp_path / f"wrap{level}"
        current.mkdir()
        archive.rename(current / archive.name)
    manual_dir = tmp_path / "manual"
    manual_dir.mkdir()
    with zipfile.ZipFile(manual_dir / "outer.zip", "w") as zf:
        for path in sorted(current.rglob("*")):
            zf.write(path, path.relative_to(current).as_posix())
    return manual_dir


def test_archives_inside_archives_are_searched(tmp_path):
    manual_dir = _nest(tmp_path, levels=1)  # outer.zip -> level1.tar.gz -> data/marker.txt
    data = manual.ManualData(_dl(tmp_path), name="nested", instructions="", root=manual_dir)
    found = data.find(_has_marker, expected="marker")
    assert found.name == "data" and (found / "marker.txt").read_text() == "x"
    # Folders already below manual_dir win over archives; nothing is extracted for them.
    (manual_dir / "plain" / "data").mkdir(parents=True)
    (manual_dir / "plain" / "data" / "marker.txt").write_text("y")
    again = manual.ManualData(_dl(tmp_path), name="nested2", instructions="", root=manual_dir)
    assert again.find(_has_marker, expected="marker") == manual_dir / "plain" / "data"


def test_nesting_deeper_than_the_limit_is_not_extracted(tmp_path):
    manual_dir = _nest(tmp_path, levels=2)  # zip -> tar.gz -> tar.gz -> marker: 3 levels
    data = manual.ManualData(_dl(tmp_path), name="deep", instructions="", root=manual_dir)
    assert data.find_optional(_has_marker) is None
