"""The local backend's native schedules: files under ``$FLOWYML_HOME/local/schedules``, fired by
one detached scheduler process (:mod:`flowyml.backends.local.scheduler`).

``<name>/schedule.json`` is written here only (create, pause, resume); ``<name>/state.json``
only by the scheduler (last fire time, last run, last error). ``scheduler.pid`` records the
scheduler as ``(pid, start time)``; ``spawn.lock`` serialises starting it and its decision to
exit, so a schedule created while it is leaving is never left without a scheduler.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from flowyml.backends.local.paths import read_json, write_json
from flowyml.core.locks import locked
from flowyml.plugins.processes import ProcessId, spawn_detached
from flowyml.plugins.schedules import ScheduleInfo, ScheduleNotFoundError, ScheduleSpec

#: Test-only: ``"<epoch>:<scale>"`` makes the schedules' clock run ``scale`` times faster from ``epoch``.
CLOCK_ENV = "FLOWYML_SCHEDULER_CLOCK"


def now() -> dt.datetime:
    """The schedules' clock: real UTC time, or the scaled test clock of ``$FLOWYML_SCHEDULER_CLOCK``."""
    real = time.time()
    knob = os.environ.get(CLOCK_ENV)
    if knob:
        epoch, _, scale = knob.partition(":")
        real = float(epoch) + (real - float(epoch)) * float(scale or 1)
    return dt.datetime.fromtimestamp(real, dt.timezone.utc)


def clock_scale() -> float:
    knob = os.environ.get(CLOCK_ENV)
    return float(knob.partition(":")[2] or 1) if knob else 1.0


def schedules_root() -> Path:
    from flowyml.home import flowyml_home

    return flowyml_home() / "local" / "schedules"


def schedule_dir(name: str) -> Path:
    from flowyml.orchestrators.layout import safe_component

    return schedules_root() / safe_component(name, "schedule name")


@attrs.define(frozen=True)
class Record:
    """One schedule on disk: the spec, the local config to fire with, and its clock marks."""

    spec: ScheduleSpec
    config: dict[str, Any]
    #: fire only after this instant (creation, or the last resume): missed firings are not caught up
    since: dt.datetime
    state: dict[str, Any] = attrs.field(factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    def last_fire(self) -> dt.datetime:
        marks = [self.since]
        if self.state.get("last_fire"):
            marks.append(dt.datetime.fromisoformat(self.state["last_fire"]))
        return max(marks)

    def next_fire(self) -> dt.datetime | None:
        if self.spec.paused:
            return None
        from flowyml.aio.cron import CronSchedule

        return CronSchedule(self.spec.cron, self.spec.timezone).next_after(self.last_fire())

    def info(self) -> ScheduleInfo:
        message = self.state.get("last_error")
        if not self.spec.paused and not scheduler_alive():
            message = "the local scheduler is not running; `flowyml schedule list` starts it again"
        return ScheduleInfo(
            name=self.name,
            backend="local",
            cron=self.spec.cron,
            timezone=self.spec.timezone,
            pipeline_name=self.spec.pipeline_name,
            paused=self.spec.paused,
            next_fire_time=self.next_fire(),
            last_run_id=self.state.get("last_run_id"),
            native_id=str(schedule_dir(self.name)),
            message=message,
        )

    def save(self) -> None:
        directory = schedule_dir(self.name)
        directory.mkdir(parents=True, exist_ok=True)
        doc = {"spec": self.spec.to_dict(), "config": self.config, "since": self.since.isoformat()}
        write_json(directory / "schedule.json", doc)


def load(name: str) -> Record:
    directory = schedule_dir(name)
    doc = read_json(directory / "schedule.json")
    if doc is None:
        names = ", ".join(r.name for r in load_all()) or "none"
        raise ScheduleNotFoundError(f"no local schedule {name!r} under {schedules_root()}; schedules: {names}")
    return Record(
        spec=ScheduleSpec.from_dict(doc["spec"]),
        config=doc["config"],
        since=dt.datetime.fromisoformat(doc["since"]),
        state=read_json(directory / "state.json") or {},
    )


def load_all() -> list[Record]:
    root = schedules_root()
    if not root.is_dir():
        return []
    records = []
    for child in sorted(root.iterdir()):
        if (child / "schedule.json").is_file():
            with contextlib.suppress(ScheduleNotFoundError):  # deleted meanwhile
                records.append(load(child.name))
    return records


# -- the scheduler process -------------------------------------------------------------------
@contextlib.contextmanager
def spawn_lock() -> Iterator[None]:
    root = schedules_root()
    root.mkdir(parents=True, exist_ok=True)
    with locked(root / "spawn.lock"):
        yield


def scheduler_pid() -> ProcessId | None:
    try:
        return ProcessId.from_text((schedules_root() / "scheduler.pid").read_text())
    except (FileNotFoundError, ValueError, IndexError):
        return None


def scheduler_alive() -> bool:
    pid = scheduler_pid()
    return pid is not None and pid.is_alive()


def ensure_scheduler(python: str | None = None) -> ProcessId | None:
    """Start the scheduler unless it runs; None when no schedule is active (nothing to fire)."""
    with spawn_lock():
        pid = scheduler_pid()
        if pid is not None and pid.is_alive():
            return pid
        if not any(not r.spec.paused for r in load_all()):
            return None
        root = schedules_root()
        process = spawn_detached(
            [python or sys.executable, "-m", "flowyml.backends.local.scheduler"],
            log_path=root / "scheduler.log",
            cwd=str(root),
        )
        from flowyml.core.atomic import atomic_write

        atomic_write(root / "scheduler.pid", process.to_text().encode())
        return process


# -- the backend operations ------------------------------------------------------------------
def create(spec: ScheduleSpec, config: Any) -> ScheduleInfo:
    """Write the schedule (replacing one of the same name) and make sure the scheduler runs.

    Units run in ``config.workdir``, else the directory the schedule was created from, so the
    pipeline module imports there as it did at creation.
    """
    local = attrs.asdict(config)
    local["workdir"] = local.get("workdir") or os.getcwd()
    record = Record(spec=spec, config=local, since=now())
    with contextlib.suppress(FileNotFoundError):
        (schedule_dir(spec.name) / "state.json").unlink()  # a replaced schedule starts afresh
    record.save()
    ensure_scheduler(local.get("python"))
    return load(spec.name).info()


def list_all() -> list[ScheduleInfo]:
    """Every local schedule; a scheduler that died (a reboot) is started again here."""
    records = load_all()
    if any(not r.spec.paused for r in records):
        ensure_scheduler()
    return [r.info() for r in records]


def set_paused(name: str, paused: bool) -> ScheduleInfo:
    record = load(name)
    if record.spec.paused != paused:
        changed = attrs.evolve(record, spec=attrs.evolve(record.spec, paused=paused))
        if not paused:  # resume: the next fire time after now, no burst of missed firings
            changed = attrs.evolve(changed, since=now())
        changed.save()
    if not paused:
        ensure_scheduler(record.config.get("python"))
    return load(name).info()


def delete(name: str) -> bool:
    directory = schedule_dir(name)
    if not (directory / "schedule.json").exists():
        return False
    (directory / "schedule.json").unlink()
    shutil.rmtree(directory, ignore_errors=True)
    return True
