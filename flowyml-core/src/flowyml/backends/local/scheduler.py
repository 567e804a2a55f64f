"""The local scheduler: one detached process that fires every active local schedule.

Each tick it reads the schedules from disk, fires those whose next fire time has come — through
the normal submit path (:meth:`RemoteOrchestrator.submit_spec` on the local backend), so each
firing is a recorded run with the id ``<schedule>-<fire time>`` — and sleeps until the next fire
time (at most ``$FLOWYML_SCHEDULER_TICK`` seconds, default 5, so new and paused schedules are
seen). Firings missed while it was not running are skipped (as cron does), except the latest
one. It exits once no schedule is active; creating or resuming one starts it again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import signal
import sys
import time
from typing import Any

import attrs

from flowyml.backends.local import schedules
from flowyml.backends.local.paths import write_json

log = logging.getLogger("flowyml.scheduler")
#: How many missed fire times one tick steps over before giving up on exact catch-up.
MAX_CATCH_UP = 10_000


def due_firing(record: schedules.Record, current: dt.datetime) -> dt.datetime | None:
    """The latest fire time in ``(last fire, current]``, or None when none has come."""
    from flowyml.aio.cron import CronSchedule

    if record.spec.paused:
        return None
    cron = CronSchedule(record.spec.cron, record.spec.timezone)
    fire = cron.next_after(record.last_fire())
    if fire > current:
        return None
    for _ in range(MAX_CATCH_UP):
        following = cron.next_after(fire)
        if following > current:
            break
        fire = following
    return fire


def fire(record: schedules.Record, fire_time: dt.datetime) -> str:
    """Submit the firing at ``fire_time`` as a normal local run; the same instant again finds the same run."""
    from flowyml.backends.local.plugin import LocalConfig
    from flowyml.orchestrators.remote import RemoteOrchestrator, store_arguments
    from flowyml.plugins.schedules import job_for_firing

    job = job_for_firing(record.spec.job, record.name, fire_time)
    orchestrator = RemoteOrchestrator(
        backend="local",
        config=LocalConfig(**record.config),
        artifact_store=job.artifact_root,
        **store_arguments(job.store_settings),
        stack=job.stack,
    )
    return orchestrator.submit_spec(job).run_id


def tick(current: dt.datetime) -> tuple[int, dt.datetime | None]:
    """Fire what is due; return (active schedules, the earliest next fire time)."""
    active, earliest = 0, None
    for record in schedules.load_all():
        if record.spec.paused:
            continue
        active += 1
        try:
            due = due_firing(record, current)
            if due is not None:
                state: dict[str, Any] = {"last_fire": due.isoformat(), "fired_at": time.time()}
                try:
                    state["last_run_id"] = fire(record, due)
                    log.info("schedule %s fired at %s: run %s", record.name, due.isoformat(), state["last_run_id"])
                except Exception as exc:  # one schedule's failure must not stop the others
                    state["last_error"] = f"firing at {due.isoformat()} failed: {type(exc).__name__}: {exc}"
                    log.error("schedule %s: %s", record.name, state["last_error"])
                if schedules.schedule_dir(record.name).is_dir():  # not deleted meanwhile
                    write_json(schedules.schedule_dir(record.name) / "state.json", state)
                record = attrs.evolve(record, state=state)
            upcoming = record.next_fire()
        except Exception as exc:  # a broken schedule file: say so, keep serving the rest
            log.error("schedule %s skipped: %s", record.name, exc)
            continue
        if upcoming is not None and (earliest is None or upcoming < earliest):
            earliest = upcoming
    return active, earliest


def should_exit() -> bool:
    """With the spawn lock held: leave (removing the pid file) when no schedule is active."""
    with schedules.spawn_lock():
        if any(not r.spec.paused for r in schedules.load_all()):
            return False
        with contextlib.suppress(FileNotFoundError):
            mine = schedules.scheduler_pid()
            if mine is not None and mine.pid == os.getpid():
                (schedules.schedules_root() / "scheduler.pid").unlink()
        return True


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
    stopping = False

    def on_term(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    max_tick = float(os.environ.get("FLOWYML_SCHEDULER_TICK", "5"))
    log.info("local scheduler started (pid %d)", os.getpid())
    while not stopping:
        active, earliest = tick(schedules.now())
        if not active and should_exit():
            break
        wait = max_tick
        if earliest is not None:
            wait = min(wait, max(0.0, (earliest - schedules.now()).total_seconds()) / schedules.clock_scale())
        time.sleep(max(wait, 0.01))
    log.info("local scheduler stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
