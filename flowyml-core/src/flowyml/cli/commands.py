"""The ``flowyml`` commands. Each returns an exit code (see :mod:`flowyml.cli.main`)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from flowyml.cli import completion, dag, resume
from flowyml.cli.main import (
    EXIT_BACKEND,
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
)
from flowyml.core.errors import (
    AuthError,
    BackendError,
    ConfigError,
    FlowymlError,
    PipelineDefinitionError,
    PluginError,
    RefusedError,
    RunIdConflictError,
    RunNotFoundError,
    TransientBackendError,
    UnknownBackendError,
)


def out(text: str = "") -> None:
    """A line on stdout; a closed or broken stdout (``| head``, ``>&-``) drops the output, not the command."""
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except (AttributeError, OSError, ValueError):  # None (fd closed at start), EPIPE, or closed file
        _silence_stdout()


def _silence_stdout() -> None:
    """Send the rest of stdout to /dev/null, so neither later lines nor the exit-time flush fail."""
    import os

    devnull = open(os.devnull, "w")  # noqa: SIM115 - lives until exit
    try:
        os.dup2(devnull.fileno(), 1)
    except OSError:
        pass
    sys.stdout = devnull


def err(text: str) -> None:
    try:
        sys.stderr.write(f"flowyml: {text}\n")
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        pass


def describe_error(exc: BaseException) -> str:
    """``str(exc)``, even when the exception's ``__str__`` raises."""
    from flowyml.orchestrators.remote import safe_str

    return safe_str(exc)


def print_json(doc: Any) -> None:
    out(json.dumps(doc, indent=2, sort_keys=True, default=str))


#: Exception type -> (exit code, prefix for the one-line message); the first match wins.
EXIT_CODES: list[tuple[type[BaseException], int, str]] = [
    (RunNotFoundError, EXIT_NOT_FOUND, ""),
    (RunIdConflictError, EXIT_USAGE, ""),
    (UnknownBackendError, EXIT_NOT_FOUND, ""),
    (TransientBackendError, EXIT_UNREACHABLE, "the backend could not be reached, the run's state is unknown: "),
    (AuthError, EXIT_BACKEND, "the backend refused our credentials: "),
    (RefusedError, EXIT_BACKEND, "the backend refused the request: "),
    (BackendError, EXIT_BACKEND, "the backend failed: "),
    (PluginError, EXIT_USAGE, ""),
    (ConfigError, EXIT_USAGE, ""),
    (PipelineDefinitionError, EXIT_USAGE, ""),
    (FlowymlError, EXIT_RUN_FAILED, ""),
]


def exit_code_for(exc: BaseException) -> tuple[int, str]:
    """The exit code and message prefix for a flowyml error, by its type."""
    for kind, code, prefix in EXIT_CODES:
        if isinstance(exc, kind):
            return code, prefix
    raise exc


def dispatch(args: argparse.Namespace) -> int:
    handler = COMMANDS[args.command]
    try:
        return handler(args)
    except FlowymlError as exc:
        code, prefix = exit_code_for(exc)
        err(f"{prefix}{describe_error(exc)}")
        return code


# -- run -------------------------------------------------------------------------------------
def parse_params(items: list[str]) -> dict[str, Any]:
    import yaml

    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param {item!r}: expected KEY=VALUE")
        try:
            params[key] = yaml.safe_load(value) if value else ""
        except yaml.YAMLError:
            params[key] = value
    return params


def load_target(target: str) -> tuple[Any, str]:
    """Import ``file.py[:attr]`` or ``module[:attr]`` once; return (pipeline, reference for remote runs)."""
    import os
    from pathlib import Path

    import attrs

    from flowyml.core.pipeline import Pipeline
    from flowyml.orchestrators.spec import _module_name_for
    from flowyml.plugins.types import PipelineRef
    from flowyml.runner import import_pipeline_module, pipeline_from

    location, _, attribute = target.partition(":")
    is_path = location.endswith(".py") or os.sep in location
    if is_path and not Path(location).is_file():
        raise ConfigError(f"{location}: no such pipeline file")
    if is_path:
        ref = PipelineRef(module=_module_name_for(Path(location)), path=str(Path(location).resolve()))
    else:
        ref = PipelineRef(module=location)
    module = import_pipeline_module(ref)
    if not attribute:
        found = [k for k, v in vars(module).items() if isinstance(v, Pipeline) and not k.startswith("_")]
        if len(found) != 1:
            raise ConfigError(
                f"{location}: found {len(found)} pipelines ({', '.join(found) or 'none'}); "
                f"name one as {location}:ATTRIBUTE"
            )
        attribute = found[0]
    ref = attrs.evolve(ref, attribute=attribute)
    return pipeline_from(module, ref), f"{ref.path if is_path else ref.module}:{attribute}"


def cmd_run(args: argparse.Namespace) -> int:
    params = parse_params(args.param)
    pipeline, ref = load_target(args.target)
    if args.stack or args.detach:  # --detach alone: the local stack
        return _submit(args, pipeline, ref, params)
    import contextlib

    # With --json, stdout carries only the JSON object: what the steps print goes to stderr.
    redirect = contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()
    from flowyml.cli.live import announce_steps
    from flowyml.orchestrators.inprocess import run_recorded

    # recorded in the run registry (flowyml runs, status) and resumable (flowyml resume)
    with redirect, announce_steps(parallel=args.max_workers > 1):
        result = run_recorded(
            pipeline,
            ref,
            run_id=args.run_id,
            context=params,
            max_workers=args.max_workers,
            cache_store=_NoCache() if args.no_cache else None,
        )
    return _print_run(result, args.json)


def _print_run(result: Any, as_json: bool) -> int:
    """An in-process run's summary (or JSON object); after a failure, how to resume it."""
    if as_json:
        print_json(
            {
                "run_id": result.run_id,
                "pipeline": result.pipeline_name,
                "success": result.success,
                "duration_seconds": result.duration_seconds,
                "steps": {
                    n: {"status": r.status, "duration_seconds": r.duration_seconds, "error": r.error}
                    for n, r in result.step_results.items()
                },
            }
        )
    else:
        _print_summary(result)
    if not result.success and result.metadata.get("recorded"):
        err(resume.hint(result.run_id))
    return EXIT_OK if result.success else EXIT_RUN_FAILED


class _NoCache:
    def lookup(self, key: str) -> tuple[bool, Any]:
        return False, None

    def set_value(self, *args: Any) -> None:
        return None


def _print_summary(result: Any) -> None:
    verdict = "succeeded" if result.success else ("stopped" if result.stopped else "FAILED")
    out(f"pipeline {result.pipeline_name} {verdict} in {result.duration_seconds:.2f}s  (run {result.run_id})")
    width = max((len(n) for n in result.step_results), default=4)
    for name, r in result.step_results.items():
        extra = f"  retries={r.retries}" if r.retries else ""
        out(f"  {name:<{width}}  {r.status:<8} {r.duration_seconds:8.3f}s{extra}")
    for name, r in result.step_results.items():
        if not r.success and r.error:
            out(f"\nstep {name} failed:\n{r.error.rstrip()}")


def _submit(args: argparse.Namespace, pipeline: Any, ref: str, params: dict[str, Any]) -> int:
    from flowyml.config.loader import load_config

    orchestrator = load_config(args.config).orchestrator(args.stack or "local")
    sub = orchestrator.run_pipeline(pipeline, run_id=args.run_id, context=params, pipeline_module=ref)
    from flowyml.orchestrators.remote import kill_point

    kill_point("cli:after_submit")
    if args.detach:
        if args.json:
            print_json(
                {"run_id": sub.run_id, "job_id": sub.job_id, "backend": sub.handle.backend, "status": "SUBMITTED"}
            )
        else:
            out(sub.run_id)
            err(
                f"submitted to stack {orchestrator.stack} ({sub.handle.backend}); "
                f"follow with: flowyml logs -f {sub.run_id}"
            )
        return EXIT_OK
    return _wait(sub, args.json)


def _wait(sub: Any, as_json: bool) -> int:
    """Follow a submitted run: a live status line on a TTY, the logs otherwise; then a per-step summary.

    Ctrl-C stops following, not the run: the message says how to re-attach.
    """
    from flowyml.cli import live

    started = time.monotonic()
    try:
        if sys.stdout.isatty() and not as_json:
            err(f"following run {sub.run_id} on {sub.handle.backend} (Ctrl-C stops following; the run goes on)")
            report = live.follow_live(sub, started)
        else:
            for rec in sub.logs(follow=True):
                if not as_json:
                    out(_format_record(rec))
            report = sub.report()
    except KeyboardInterrupt:
        err(live.detached_note(sub.run_id, sub.handle.backend))
        return EXIT_INTERRUPTED
    if as_json:
        print_json(_status_doc(sub.handle, report))
    else:
        _print_remote_summary(sub.handle, report, time.monotonic() - started)
        out(f"run {sub.run_id} {report.status.name}" + (f": {report.message}" if report.message else ""))
    if not report.status.is_successful:
        err(resume.hint(sub.run_id))
    return EXIT_OK if report.status.is_successful else EXIT_RUN_FAILED


def _print_remote_summary(handle: Any, report: Any, seconds: float) -> None:
    """The in-process summary's shape for a finished remote run: one line per step, from its unit results."""
    from flowyml.artifacts.store import ArtifactStore
    from flowyml.cli import history, live

    try:
        store = ArtifactStore(handle.artifact_root, handle.metadata.get("store_settings") or {})
        rows = live.step_summary(store, handle.run_id)
    except (FlowymlError, OSError, ValueError, KeyError, TypeError):  # the store cannot be read from here
        return
    out(f"pipeline {handle.pipeline_name} {report.status.name} in {history.duration(seconds)}  (run {handle.run_id})")
    width = max((len(name) for name, *_ in rows), default=4)
    for name, status, took, _error in rows:
        out(f"  {name:<{width}}  {status:<8} {history.duration(took):>8}")


# -- registry commands --------------------------------------------------------------------------
def _status_doc(handle: Any, report: Any) -> dict[str, Any]:
    return {
        "run_id": handle.run_id,
        "backend": handle.backend,
        "job_id": handle.job_id,
        "pipeline": handle.pipeline_name,
        "status": report.status.name,
        "native_state": report.native_state,
        "message": report.message,
        "units": {k: v.name for k, v in report.units.items()},
    }


def _orchestrator_for(run_id: str) -> tuple[Any, Any]:
    from flowyml.orchestrators import RemoteOrchestrator
    from flowyml.orchestrators.registry import RunRegistry

    registry = RunRegistry()
    record = registry.get(run_id)
    return RemoteOrchestrator.for_handle(record.handle, registry=registry), record


def cmd_status(args: argparse.Namespace) -> int:
    from flowyml.cli import history

    orchestrator, record = _orchestrator_for(args.run_id)
    report = orchestrator.get_status_report(record.handle)
    order, results = _unit_results(orchestrator, record.handle)
    if results and report.status.is_finished:
        start, end = history.run_span(results)
        orchestrator.registry.set_times(record.run_id, start if start is not None else record.created_at, end)
    record = orchestrator.registry.find(record.run_id) or record
    doc = _status_doc(record.handle, report)
    timeline: list[dict[str, Any]] = []
    for unit in history.in_dag_order(order, report.units or dict.fromkeys(order, None)):
        result = results.get(unit)
        state = report.units.get(unit)
        timeline.append(
            {
                "unit": unit,
                "status": state.name if state is not None else None,
                "start": history.iso_utc(result.started_at) if result else None,
                "end": history.iso_utc(result.finished_at) if result else None,
                "duration_seconds": _span(result.started_at, result.finished_at) if result else None,
                "error": result.error if result else None,
            }
        )
    run_end = record.finished_at if report.status.is_finished else None
    doc.update(
        units={row["unit"]: row["status"] for row in timeline if row["status"] is not None} or doc["units"],
        timeline=timeline,
        start=history.iso_utc(record.created_at),
        end=history.iso_utc(run_end),
        duration_seconds=_span(record.created_at, run_end),
    )
    if args.details:
        doc["details"] = orchestrator.get_run_details(record.handle)
    if args.json:
        print_json(doc)
        return EXIT_OK
    out(f"{doc['run_id']}  {doc['status']}  ({doc['backend']}: {doc['job_id']})")
    took = history.duration(doc["duration_seconds"])
    if doc["duration_seconds"] is None:
        took = history.duration(time.time() - record.created_at) + " so far"
    out(f"  pipeline {doc['pipeline'] or '-'}, submitted {history.local_time(record.created_at)}, took {took}")
    if timeline:
        width = max(len("UNIT"), *(len(row["unit"]) for row in timeline))
        out(f"  {'UNIT':<{width}}  {'STATUS':<10} {'STARTED':<8}  DURATION")
        for row in timeline:
            result = results.get(row["unit"])
            began = result.started_at if result else None
            started = time.strftime("%H:%M:%S", time.localtime(began)) if began else "-"
            took = history.duration(row["duration_seconds"])
            out(f"  {row['unit']:<{width}}  {row['status'] or '-':<10} {started:<8}  {took}")
    if report.message:
        out(f"  message: {report.message}")
    if args.details:
        out("  details:")
        for line in history.details_lines(doc["details"], indent="    "):
            out(line)
    return EXIT_OK


def _span(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round(max(0.0, end - start), 3)


def _unit_results(orchestrator: Any, handle: Any) -> tuple[list[str], dict[str, Any]]:
    """(units in DAG order, unit results) from the run's artifact store; nothing if it cannot be read yet."""
    from flowyml.artifacts.store import ArtifactStore
    from flowyml.cli import history

    if not handle.artifact_root:
        return [], {}
    try:
        settings = handle.metadata.get("store_settings") or orchestrator.store_settings
        store = ArtifactStore(handle.artifact_root, settings)
        return history.unit_timings(store, handle.run_id)
    except (FlowymlError, OSError, ValueError, KeyError, TypeError):  # no spec yet, or a store we cannot read
        return [], {}


def _format_record(rec: Any) -> str:
    unit = f"[{rec.unit}] " if rec.unit else ""
    return f"{rec.iso_time} {rec.severity:<5} {unit}{rec.message}"


def cmd_logs(args: argparse.Namespace) -> int:
    orchestrator, record = _orchestrator_for(args.run_id)
    try:
        for rec in orchestrator.iter_logs(record.handle, cursor=args.cursor, follow=args.follow):
            out(json.dumps(rec.to_dict(), sort_keys=True) if args.json else _format_record(rec))
    except KeyboardInterrupt:
        if not args.follow:
            raise
        from flowyml.cli import live

        err(live.detached_note(record.run_id, record.handle.backend))
        return EXIT_INTERRUPTED
    return EXIT_OK


def cmd_cancel(args: argparse.Namespace) -> int:
    orchestrator, record = _orchestrator_for(args.run_id)
    requested = orchestrator.stop_run(record.handle, graceful=not args.force)
    report = orchestrator.get_status_report(record.handle)
    if args.wait and not report.status.is_finished:
        from flowyml.plugins.polling import poll_until

        final = poll_until(
            lambda: orchestrator.get_status_report(record.handle),
            lambda r: r.status.is_finished,
            timeout=300,
            poll_interval=1.0,
            what=f"cancel of {record.run_id}",
        )
        report = final or orchestrator.get_status_report(record.handle)
    if args.json:
        print_json({**_status_doc(record.handle, report), "cancel_requested": requested})
    else:
        out(f"{record.run_id}: {'cancel requested' if requested else 'already finished'}; now {report.status.name}")
    return EXIT_OK


def cmd_runs(args: argparse.Namespace) -> int:
    from flowyml.cli import history
    from flowyml.core.status import ExecutionStatus
    from flowyml.orchestrators.registry import RunRegistry

    if args.limit < 1:
        raise ConfigError(f"--limit {args.limit}: expected a positive number of runs")
    wanted = history.parse_statuses(args.status)
    since = history.parse_since(args.since) if args.since else None
    registry = RunRegistry()
    # With --status, unfinished rows are read too: their backend may say they are in a wanted state now.
    query = None if wanted is None else wanted | {s for s in ExecutionStatus if not s.is_finished}
    page = args.limit if wanted is None else max(args.limit, 50)
    rows: list[dict[str, Any]] = []
    notes: dict[str, str] = {}
    offset = 0
    while len(rows) < args.limit:
        records = registry.list(
            limit=page, backend=args.backend, pipeline=args.pipeline, since=since, statuses=query, offset=offset
        )
        offset += len(records)
        if args.quiet and wanted is None:  # ids as recorded: for scripts and shell completion, no backend call
            rows += [{"run_id": r.run_id} for r in records]
            break
        fresh, page_notes = _fresh_statuses(registry, [r.handle for r in records if not r.status.is_finished])
        notes.update(page_notes)
        for rec in records:
            row = _run_row(registry, rec, fresh.get(rec.run_id), page_notes.get(rec.run_id))
            if wanted is None or ExecutionStatus(row["status"]) in wanted:
                rows.append(row)
        if len(records) < page:
            break
    rows = rows[: args.limit]
    if args.quiet:
        for r in rows:
            out(r["run_id"])
        return EXIT_OK
    if args.json:
        print_json(rows)
        return EXIT_OK
    if not rows:
        filtered = wanted is not None or args.pipeline or args.since or args.backend
        out("no runs match" if filtered else "no runs yet")
        return EXIT_OK
    now = time.time()
    table = [
        (
            r["run_id"],
            r["pipeline"] or "-",
            r["status"],
            history.local_time(r["created_at"]),
            history.duration(r["duration_seconds"])
            if r["duration_seconds"] is not None
            else history.duration(now - r["created_at"]) + "+",
            r["backend"],
        )
        for r in rows
    ]
    header = ("RUN", "PIPELINE", "STATUS", "STARTED", "DURATION", "BACKEND")
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(header)]
    out("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for r, cells in zip(rows, table, strict=True):
        note = f"  ({notes[r['run_id']]})" if r["run_id"] in notes else ""
        out("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip() + note)
    return EXIT_OK


def _run_row(registry: Any, rec: Any, report: Any, note: str | None) -> dict[str, Any]:
    """One ``flowyml runs`` row: the registry's record with the backend's fresh status, if asked."""
    from flowyml.cli import history

    status = report.status.name if report else rec.status.name
    message = report.message if report else rec.message
    if note:
        status, message = "UNKNOWN", note
    if report is not None and report.status.is_finished:
        rec = registry.find(rec.run_id) or rec  # the refresh recorded when it was seen to end
    rec = _exact_times(registry, rec)
    end = rec.finished_at if rec.status.is_finished else None
    return {
        "run_id": rec.run_id,
        "backend": rec.handle.backend,
        "job_id": rec.handle.job_id,
        "pipeline": rec.handle.pipeline_name,
        "stack": rec.stack,
        "status": status,
        "message": message,
        "created_at": rec.created_at,
        "start": history.iso_utc(rec.created_at),
        "end": history.iso_utc(end),
        "duration_seconds": _span(rec.created_at, end),
    }


def _exact_times(registry: Any, rec: Any) -> Any:
    """A finished run's end as its unit results say, read once (for runs whose store is a local path)."""
    from flowyml.cli import history

    if rec.started_at is not None or not rec.status.is_finished or not rec.handle.artifact_root.startswith("file:"):
        return rec
    from flowyml.artifacts.store import ArtifactStore
    from flowyml.orchestrators.layout import read_unit_results

    try:
        results = read_unit_results(ArtifactStore(rec.handle.artifact_root), rec.run_id)
    except (FlowymlError, OSError, ValueError, KeyError, TypeError):
        return rec
    start, end = history.run_span(results)
    registry.set_times(rec.run_id, start if start is not None else rec.created_at, end)
    return registry.find(rec.run_id) or rec


def _fresh_statuses(registry: Any, unfinished: list[Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Fresh reports of unfinished runs, one batch per backend; (reports, run id -> why it is unknown).

    A run whose backend is not installed, or whose backend could not answer, keeps its row and
    says why ("needs flowyml[gcp]"); the other backends' runs are still refreshed.
    """
    from flowyml.orchestrators import RemoteOrchestrator
    from flowyml.plugins.manager import KNOWN_BACKENDS

    by_backend: dict[str, list[Any]] = {}
    for handle in unfinished:
        by_backend.setdefault(handle.backend, []).append(handle)
    fresh: dict[str, Any] = {}
    notes: dict[str, str] = {}
    for backend, handles in by_backend.items():
        try:
            orchestrator = RemoteOrchestrator.for_handle(handles[0], registry=registry)
            fresh.update(orchestrator.get_run_statuses(handles))
        except UnknownBackendError:
            extra = KNOWN_BACKENDS.get(backend)
            note = f"needs flowyml[{extra}]" if extra else f"backend {backend!r} is not installed"
            notes.update(dict.fromkeys((h.run_id for h in handles), note))
        except FlowymlError as exc:  # keep listing; say why these rows are stale
            err(f"status unavailable for the {backend} runs: {describe_error(exc)}")
    return fresh, notes


# -- plugins and stacks -------------------------------------------------------------------------
def cmd_plugins(args: argparse.Namespace) -> int:
    from flowyml.plugins.manager import get_plugin_manager

    pm = get_plugin_manager()
    plugins: list[dict[str, Any]] = [
        {
            "name": r.name,
            "module": r.module,
            "distribution": r.distribution,
            "version": r.version,
            "hooks": r.hooks,
            "backends": r.backends,
            "stores": r.stores,
            "error": r.error,
            "warnings": r.warnings,
        }
        for r in pm.records.values()
    ]
    backends = [b.describe() for b in pm.backends.values()]
    if args.json:
        print_json({"plugins": plugins, "backends": backends, "stores": sorted(pm.stores)})
        return EXIT_OK
    out("backends:")
    for b in backends:
        out(f"  {b['name']:<12} {', '.join(b['capabilities']):<40} {b['description']}")
    out("artifact stores: " + ", ".join(f"{s}://" for s in sorted(pm.stores)))
    out("plugins:")
    for p in plugins:
        state = f"FAILED: {p['error']}" if p["error"] else ", ".join(h.removeprefix("flowyml_") for h in p["hooks"])
        out(f"  {p['name']:<12} {p['distribution'] or '-'} {p['version'] or ''}  {state}")
        for w in p["warnings"]:
            out(f"    warning: {w}")
    return EXIT_OK


def cmd_stack(args: argparse.Namespace) -> int:
    from flowyml.config.loader import load_config

    config = load_config(args.config)
    if args.action == "list":
        names = sorted(config.stacks)
        unavailable = {n: s.unavailable for n, s in config.stacks.items() if s.unavailable}
        if args.json:
            doc: dict[str, Any] = {"active": config.active_stack_name(), "stacks": names}
            if unavailable:
                doc["unavailable"] = unavailable
            print_json(doc)
        else:
            active = config.active_stack_name()
            for n in names:
                note = f": {unavailable[n]}" if n in unavailable else ""
                out(f"{'*' if n == active else ' '} {n}  ({config.stacks[n].backend}{note})")
        return EXIT_OK
    if args.action == "show":
        doc = config.stack(args.name).to_dict()
        if args.json:
            print_json(doc)
        else:
            import yaml

            out(yaml.safe_dump(doc, sort_keys=False).rstrip())
        return EXIT_OK
    return _validate_stacks(config, args.name)


def _validate_stacks(config: Any, name: str | None) -> int:
    """``NAME: ok`` per valid stack (fields only: no SDK, credential or network call); one error line per bad one."""
    if name:
        config.validate_stack(name)
        out(f"{name}: ok")
        return EXIT_OK
    failures: list[FlowymlError] = []
    for n in sorted(config.stacks):
        try:
            config.validate_stack(n)
        except FlowymlError as exc:
            failures.append(exc)
        else:
            out(f"{n}: ok")
    if len(failures) == 1:
        raise failures[0]
    if failures:
        for failure in failures:
            err(exit_code_for(failure)[1] + describe_error(failure))
        raise ConfigError(f"{config.path}: {len(failures)} of {len(config.stacks)} stacks are not valid")
    return EXIT_OK


COMMANDS = {
    "run": cmd_run,
    "runs": cmd_runs,
    "status": cmd_status,
    "logs": cmd_logs,
    "cancel": cmd_cancel,
    "plugins": cmd_plugins,
    "stack": cmd_stack,
    "dag": dag.cmd_dag,
    "resume": resume.cmd_resume,
    "completion": completion.cmd_completion,
}
