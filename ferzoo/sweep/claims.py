"""Claims kept in the Optuna storage: one process, of all those finishing a study, retrains.

Two copies of one command (`python sweeps/run.py --study kdef`, started twice, on one host or
on several sharing a PostgreSQL storage) both reach the end of the study; only one may retrain
the best configuration and write the report:

    with Claim(storage, "kdef", interval=30):    # raises ClaimHeld where another holds it
        ...                                      # retrain, write best.json and summary.md

The atomic step is the storage's own: a study name is unique (a database constraint on SQLite
and PostgreSQL alike), so of several processes creating the study `<study>:final-retrain:<g>`
exactly one succeeds. A user attribute with a read-back would not do: two processes can both
read "free", both write, and each read back its own value before the other's write lands. The
claim study records its holder (host, pid, start time) and a heartbeat that a thread renews
every `interval` seconds; releasing the claim deletes it.

A claim is stale, and another process takes it over, when its holder is a process of this host
that no longer runs, or when its heartbeat is older than three intervals (the holder's, as
Optuna fails a silent trial; hosts' clocks are assumed to agree to well within that). A claim
whose holder died between creating it and recording itself is stale when it is still
unrecorded `UNRECORDED_GRACE` seconds after it was seen. Taking over is the same atomic step:
the taker creates generation `g + 1` of a stale claim `g`, so of several takers one wins, then
deletes `g`. A process whose view was old (it made `g + 1` while `g + 2` exists) sees the
higher generation when it checks after creating, and gives way.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import socket
import threading
import time
from typing import Any

import optuna
from optuna.study import StudyDirection

FINAL_RETRAIN = "final-retrain"
STALE_INTERVALS = 3  # heartbeats missed before a claim is stale (Optuna's grace period)
UNRECORDED_GRACE = 5.0  # seconds a claim may stay without its holder's record


def _alive(pid: int) -> bool:
    """Whether process `pid` of this host runs (True where it cannot be told)."""
    if os.name == "nt":  # os.kill would end the process there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@dataclasses.dataclass(frozen=True)
class Holder:
    """A claim as the storage holds it: its study, generation and holder (None: unrecorded)."""

    study_id: int
    generation: int
    host: str | None = None
    pid: int | None = None
    since: str | None = None
    heartbeat: float | None = None
    stale_after: float | None = None

    @property
    def recorded(self) -> bool:
        return self.host is not None and self.pid is not None and self.heartbeat is not None

    def stale(self, now: float) -> bool:
        """Whether the holder is gone: dead on this host, or silent for `stale_after` s."""
        if not self.recorded:
            return False
        if self.host == socket.gethostname() and not _alive(int(self.pid)):
            return True
        return now - float(self.heartbeat) > float(self.stale_after or 0)

    def describe(self, now: float) -> str:
        if not self.recorded:
            return "a process that has not recorded itself yet"
        ago = max(0.0, now - float(self.heartbeat))
        return f"host {self.host} pid {self.pid} since {self.since} (heartbeat {ago:.0f} s ago)"


class ClaimHeld(Exception):
    """Another process holds the claim; the message is one line naming it."""

    def __init__(self, study_name: str, what: str, holder: Holder):
        self.holder = holder
        super().__init__(
            f"study {study_name!r}: the {what.replace('-', ' ')} is taken by "
            f"{holder.describe(time.time())}; nothing to do here"
        )


class Claim:
    """An exclusive claim on `what` of study `study_name`, held in its Optuna storage.

    Args:
        storage: the study's storage (any Optuna storage; across processes an RDB one).
        study_name: the study the claim is about.
        what: what is claimed; the claim study is named `<study_name>:<what>:<generation>`.
        interval: seconds between heartbeats; the claim is stale after `STALE_INTERVALS` of
            them without one.

    Raises (on entering, or from `acquire`):
        ClaimHeld: a live claim is held by another process (or by another `Claim` here).
    """

    def __init__(
        self,
        storage: optuna.storages.BaseStorage,
        study_name: str,
        what: str = FINAL_RETRAIN,
        *,
        interval: float = 30.0,
    ):
        if not interval > 0:
            raise ValueError(f"interval must be positive. Received: interval={interval!r}")
        self.storage, self.study_name, self.what = storage, study_name, what
        self.interval = float(interval)
        self.prefix = f"{study_name}:{what}:"
        self.study_id: int | None = None
        self._holder: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Claim:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def holders(self) -> list[Holder]:
        """The claims of this kind on the study, lowest generation first."""
        found = []
        for study in self.storage.get_all_studies():
            name = study.study_name
            suffix = name[len(self.prefix) :] if name.startswith(self.prefix) else ""
            if suffix.isdigit():
                attrs = study.system_attrs
                fields = {f.name for f in dataclasses.fields(Holder)}
                record = {k: v for k, v in attrs.get("holder", {}).items() if k in fields}
                # FrozenStudy keeps the id there; asking the storage by name could race a delete.
                found.append(Holder(study._study_id, int(suffix), **record))
        return sorted(found, key=lambda h: h.generation)

    def acquire(self) -> Claim:
        """Take the claim (see the module docstring); start the heartbeat."""
        for _ in range(20):
            held = self.holders()
            top = held[-1] if held else None
            if top is not None and not top.recorded:
                time.sleep(UNRECORDED_GRACE)  # its holder may be between creating and recording
                again = self._current(top)
                if again is None or again.recorded:  # it moved on: look again
                    continue
            elif top is not None and not top.stale(time.time()):
                raise ClaimHeld(self.study_name, self.what, top)
            generation = top.generation + 1 if top else 0
            study_id = self._create(generation)
            if study_id is None:  # another process made this generation first: look again
                continue
            self.study_id = study_id
            try:
                self._take(generation, held)
            except BaseException:
                self.release()
                raise
            return self
        raise RuntimeError(f"could not take the claim {self.prefix}* in 20 tries")

    def _take(self, generation: int, held: list[Holder]) -> None:
        """Record this process in the claim just made, drop the stale ones, start beating."""
        self._record()
        for old in held:  # the stale claims taken over
            self._delete(old.study_id, old.generation)
        higher = [h for h in self.holders() if h.generation > generation]
        if higher:  # made from an old view: a later claim stands
            raise ClaimHeld(self.study_name, self.what, higher[-1])
        self._thread = threading.Thread(target=self._beat, daemon=True, name=self.prefix)
        self._thread.start()

    def release(self) -> None:
        """Stop the heartbeat and delete the claim (a no-op when not held)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.study_id is not None:
            mine = [h for h in self.holders() if h.study_id == self.study_id]
            if mine:  # not taken over (and deleted) in the meantime
                self._delete(self.study_id, mine[0].generation)
            self.study_id = None
        self._stop = threading.Event()

    def _current(self, holder: Holder) -> Holder | None:
        """The claim `holder` as the storage holds it now (None: deleted)."""
        return next((h for h in self.holders() if h.study_id == holder.study_id), None)

    def _create(self, generation: int) -> int | None:
        """The new claim study's id, or None where that generation exists already."""
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # not "A new study created"
        try:
            return self.storage.create_new_study(
                [StudyDirection.MINIMIZE], f"{self.prefix}{generation}"
            )
        except (optuna.exceptions.DuplicatedStudyError, KeyError):
            return None  # KeyError: made, then taken over and deleted before it was read back
        finally:
            optuna.logging.set_verbosity(verbosity)

    def _record(self) -> None:
        now = time.time()
        since = datetime.datetime.fromtimestamp(now, datetime.UTC)
        holder = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "since": since.strftime("%Y-%m-%d %H:%M:%S UTC"),
            "heartbeat": now,
            "stale_after": STALE_INTERVALS * self.interval,
        }
        self.storage.set_study_system_attr(self.study_id, "holder", holder)
        self._holder = holder

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                holder = {**self._holder, "heartbeat": time.time()}
                self.storage.set_study_system_attr(self.study_id, "holder", holder)
            except KeyError:  # taken over and deleted: nothing left to renew
                return
            except Exception:  # noqa: BLE001  (a missed beat; the next one may get through)
                continue

    def _delete(self, study_id: int, generation: int) -> None:
        try:
            if self.storage.get_study_name_from_id(study_id) == f"{self.prefix}{generation}":
                self.storage.delete_study(study_id)
        except KeyError:  # deleted already
            pass


__all__ = ["FINAL_RETRAIN", "Claim", "ClaimHeld", "Holder"]
