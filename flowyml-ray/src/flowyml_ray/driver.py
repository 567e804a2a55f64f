"""The Ray Job's entrypoint: ``python -m flowyml_ray.driver --job <spec uri> [--settings <json>]``.

It reads the job spec from the artifact store, starts one Ray task per execution unit with the
unit's resources — each unit's task gets the ObjectRefs of the units it depends on, so Ray starts it
when they finished and runs independent units at once across the nodes — and prints every unit's
output to the job's log, one line per record: ``flowyml|<unit>|<epoch seconds>|<line>``. It
publishes the units' states, nodes and timings in the run's progress document. SIGTERM (Ray's
``stop_job``) cancels the running tasks; the run's timeout does too. Exit code 0 when every unit
completed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

from flowyml.artifacts.store import ArtifactStore
from flowyml.orchestrators.layout import RunLayout, read_unit_result
from flowyml.plugins.types import JobSpec, store_settings_from_env
from flowyml_ray.lines import DRIVER, format_line
from flowyml_ray.progress import read_progress, stop_request, write_progress
from flowyml_ray.resources import task_options

EXIT_OK, EXIT_FAILED, EXIT_STOPPED, EXIT_TIMED_OUT, EXIT_SETUP = 0, 1, 3, 4, 2
#: seconds between drains of the log hub, and a stopped task's grace before it is killed
POLL, STOP_GRACE = 0.2, 1.5


def emit(unit: str | None, text: str, ts: float | None = None) -> None:
    """One record line of the job's log (what ``flowyml_ray.logs`` parses)."""
    sys.stdout.write(format_line(unit, time.time() if ts is None else ts, text))


class DriverRun:
    """One run's units as Ray tasks, watched until they all ended (or the run was stopped)."""

    def __init__(self, spec: JobSpec, store: ArtifactStore, settings: dict[str, Any]) -> None:
        self.spec = spec
        self.store = store
        self.settings = settings
        self.stop_signal: int | None = None
        self.units: dict[str, dict[str, Any]] = {u.name: {"state": "PENDING"} for u in spec.units}
        self.progress: dict[str, Any] = {"run_id": spec.run_id, "state": "RUNNING", "units": self.units}
        self.dirty = True

    def request_stop(self, signum: int, _frame: Any = None) -> None:
        self.stop_signal = signum  # acted on by the loop, at most POLL seconds later

    # -- publishing ----------------------------------------------------------------------------
    def publish(self, force: bool = False) -> None:
        if self.dirty or force:
            write_progress(self.store, self.spec.run_id, self.progress)
            self.dirty = False

    def drain(self, hub: Any) -> None:
        import ray

        for item in ray.get(hub.drain.remote()):
            if item[0] == "log":
                _, unit, ts, text = item
                emit(unit, text, ts)
            elif item[0] == "hub":
                self.progress["driver"]["log_hub_node_id"] = item[1]
                self.dirty = True
            elif item[0] == "state":
                _, unit, info = item
                if self.units[unit]["state"] == "PENDING":
                    self.units[unit].update(info)
                    self.dirty = True
                    emit(DRIVER, f"unit {unit} running on node {info.get('node_id', '?')[:12]}", info.get("started_at"))
        sys.stdout.flush()

    def record(self, unit: str, result: dict[str, Any]) -> None:
        entry = self.units[unit]
        entry.update(result)
        if entry["state"] == "FAILED" and not entry.get("error"):
            entry["error"] = self.step_error(unit) or f"the step-runner exited with code {entry.get('exit_code')}"
        if "started_at" in entry and "finished_at" in entry:
            entry["duration_seconds"] = round(entry["finished_at"] - entry["started_at"], 3)
        self.dirty = True
        detail = f": {entry['error']}" if entry.get("error") else ""
        emit(DRIVER, f"unit {unit} {entry['state'].lower()}{detail}")

    def step_error(self, unit: str) -> str | None:
        result = read_unit_result(self.store, self.spec.run_id, unit)
        return result.error if result is not None else None

    # -- running -------------------------------------------------------------------------------
    def submit(self, hub: Any) -> dict[Any, str]:
        from flowyml_ray.task import run_unit

        refs: dict[str, Any] = {}
        for unit in self.spec.topological_units():
            options = task_options(
                unit.resources,
                accelerator_resources=self.settings.get("accelerator_resources"),
                scheduling_strategy=self.settings.get("scheduling_strategy"),
                retries=int(self.settings.get("task_retries", 0)),
            )
            task = run_unit.options(name=f"flowyml:{unit.name}", **options)
            refs[unit.name] = task.remote(
                self.spec.unit_command(unit.name),
                self.spec.unit_env(unit.name),
                unit.name,
                hub,
                *[refs[d] for d in unit.depends_on],
            )
        return {ref: name for name, ref in refs.items()}

    def outcome(self, unit: str, ref: Any) -> dict[str, Any]:
        import ray
        from ray import exceptions as rex

        try:
            return dict(ray.get(ref))
        except rex.TaskCancelledError:
            return {"state": "CANCELLED"}
        except rex.RayError as exc:  # the worker or its node died, or the task raised
            blocked = [d for d in self.spec.unit(unit).depends_on if self.units[d]["state"] != "SUCCEEDED"]
            if blocked:  # Ray passes an upstream task's error on to the tasks that depend on it
                return {"state": "CANCELLED", "error": f"not run: unit(s) {', '.join(blocked)} did not complete"}
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return {"state": "FAILED", "error": f"Ray could not run unit {unit}: {type(exc).__name__}: {first}"}

    def stop(self, pending: dict[Any, str], hub: Any, final: str) -> None:
        """Cancel the unfinished tasks: KeyboardInterrupt first (the step-runner gets SIGTERM), then kill
        their workers; at once for a cancel that was not graceful."""
        import ray

        graceful = final != "CANCELLED" or stop_request(self.store, self.spec.run_id).get("graceful", True)
        for ref in pending:
            ray.cancel(ref, force=not graceful)
        ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=STOP_GRACE if graceful else 0)
        for ref in set(pending) - set(ready):
            ray.cancel(ref, force=True)
        self.drain(hub)
        for unit in pending.values():
            if self.units[unit]["state"] in ("PENDING", "RUNNING"):
                self.units[unit]["state"] = final
                if "started_at" in self.units[unit]:
                    self.units[unit]["finished_at"] = time.time()
        self.dirty = True

    def execute(self) -> int:
        import ray

        from flowyml_ray.task import LogHub

        context = ray.get_runtime_context()
        started = time.time()
        self.progress["driver"] = {"node_id": context.get_node_id(), "pid": os.getpid(), "started_at": started}
        self.publish()
        emit(DRIVER, f"run {self.spec.run_id}: {len(self.spec.units)} unit(s) on Ray {ray.__version__}")
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        # on the driver's node, whose runtime_env is set up already: every unit's last lines wait for the hub
        here = NodeAffinitySchedulingStrategy(node_id=context.get_node_id(), soft=False)  # it needs no resources
        hub = LogHub.options(scheduling_strategy=here).remote()  # type: ignore[attr-defined]
        pending = self.submit(hub)
        order = {u.name: i for i, u in enumerate(self.spec.topological_units())}
        timeout = self.spec.timeout_seconds
        deadline = None if not timeout else started + float(timeout)
        final = None
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=POLL)
            self.drain(hub)
            for ref in sorted(ready, key=lambda r: order[pending[r]]):  # upstream units first
                unit = pending.pop(ref)
                self.record(unit, self.outcome(unit, ref))
            if pending and self.stop_signal is not None:
                emit(DRIVER, f"stop requested (signal {self.stop_signal}): cancelling {len(pending)} unit(s)")
                final = "CANCELLED"
            elif pending and deadline is not None and time.time() > deadline:
                emit(DRIVER, f"run timed out after {timeout}s: cancelling {len(pending)} unit(s)")
                final = "TIMED_OUT"
            if final is not None:
                self.stop(pending, hub, final)
                break
            self.publish()
        self.drain(hub)
        states = {u["state"] for u in self.units.values()}
        if final is None:
            final = "SUCCEEDED" if states == {"SUCCEEDED"} else "FAILED"
        emit(DRIVER, f"run {self.spec.run_id} {final.lower()}")
        sys.stdout.flush()  # before the last record: a status that reads it finished may end a log follow
        self.progress.update(state=final, finished_at=time.time())
        self.publish(force=True)
        return {"SUCCEEDED": EXIT_OK, "FAILED": EXIT_FAILED, "CANCELLED": EXIT_STOPPED}.get(final, EXIT_TIMED_OUT)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flowyml_ray.driver", description="Run a flowyml job on Ray.")
    parser.add_argument("--job", required=True, help="URI of the job spec JSON")
    parser.add_argument("--settings", default="{}", help="JSON: scheduling_strategy, task_retries, ...")
    args = parser.parse_args(argv)
    store_settings = store_settings_from_env()
    try:
        store = ArtifactStore(RunLayout.artifact_root_of(args.job), store_settings)
        spec = JobSpec.from_dict(store.read_json(args.job))
        settings = json.loads(args.settings)
    except Exception as exc:
        emit(DRIVER, f"cannot start the run: {type(exc).__name__}: {exc}")
        return EXIT_SETUP
    run = DriverRun(spec, store, settings)
    import ray

    ray.init(log_to_driver=False, logging_level=logging.WARNING, configure_logging=True)
    # after ray.init, which installs handlers of its own: Ray's stop_job sends SIGTERM
    signal.signal(signal.SIGTERM, run.request_stop)
    signal.signal(signal.SIGINT, run.request_stop)
    try:
        return run.execute()
    except Exception as exc:  # the driver itself broke: say so in the log and the progress document
        emit(DRIVER, f"the flowyml driver failed: {type(exc).__name__}: {exc}")
        progress = read_progress(store, spec.run_id) or run.progress
        progress.update(state="FAILED", error=f"flowyml driver: {type(exc).__name__}: {exc}")
        write_progress(store, spec.run_id, progress)
        return EXIT_FAILED


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # the run is published and its log flushed: skip ray.shutdown and the interpreter's teardown (about 1 s,
    # which Ray waits for before it calls the job done); Ray ends the job's workers as for any driver that exits
    os._exit(code)
