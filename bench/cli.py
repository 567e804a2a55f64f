"""``python -m bench [--smoke] [--only a,b] [--out DIR]``: run the cases, write JSON, print a table."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.model import ERROR, CaseResult
from bench.proc import REPO_ROOT
from bench.report import markdown
from bench.settings import FULL, SMOKE, Settings

log = logging.getLogger("bench")
RESULTS = Path(__file__).resolve().parent / "results"
CASES = (
    "startup",
    "overhead",
    "fanout",
    "memory",
    "install",
    "local_backend",
    "aio",
    "aws",
    "vertex",
    "azure",
    "artifacts",
    "ray",
)


def _case(name: str) -> Callable[[Settings], CaseResult]:
    import importlib

    return importlib.import_module(f"bench.cases.{name}").run


def _prepare(names: Sequence[str], settings: Settings) -> None:
    """Let cases start slow fixtures early (a case module's optional ``prepare(settings)``)."""
    import importlib

    for name in names:
        prepare = getattr(importlib.import_module(f"bench.cases.{name}"), "prepare", None)
        if prepare is not None:
            prepare(settings)


def run_case(name: str, settings: Settings) -> CaseResult:
    """Run one case; an unexpected failure becomes an ``error`` result carrying the traceback."""
    start = time.perf_counter()
    try:
        result = _case(name)(settings)
    except Exception as exc:
        log.error("case %s failed: %s", name, exc)
        result = CaseResult(name, name, ERROR, note=f"error: {type(exc).__name__}: {exc}")
        result.details["traceback"] = traceback.format_exc()
    result.seconds = round(time.perf_counter() - start, 2)
    return result


def _git_commit() -> str | None:
    """HEAD, plus a mark when the measured code (core, backends, bench) has uncommitted changes."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True)
    if not head.stdout.strip():
        return None
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "flowyml-core", "flowyml-aws", "bench"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return head.stdout.strip() + (" + uncommitted changes" if dirty else "")


def _loadavg() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def run_all(settings: Settings, only: Sequence[str] = CASES) -> dict[str, Any]:
    """Every selected case, in order, with the machine and the time they ran on."""
    meta = {
        "mode": settings.mode,
        "started_utc": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"CPython {platform.python_version()} ({platform.machine()})",
        "python": sys.executable,
        "git_commit": _git_commit(),
        "loadavg_start": _loadavg(),
    }
    # Users' interpreters read cached bytecode; with PYTHONDONTWRITEBYTECODE every child (and every
    # local-backend supervisor and step-runner) would compile flowyml from source on each start.
    no_bytecode = os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    meta["bytecode"] = "PYTHONDONTWRITEBYTECODE was set; unset for this run's children" if no_bytecode else "default"
    cases = []
    try:
        _prepare(only, settings)
        for name in only:
            log.info("running %s", name)
            cases.append(run_case(name, settings).to_dict())
    finally:
        if no_bytecode is not None:
            os.environ["PYTHONDONTWRITEBYTECODE"] = no_bytecode
    meta["loadavg_end"] = _loadavg()
    return {"meta": meta, "cases": cases}


def configure_logging() -> None:
    """Progress lines on stderr for the command line (not done by :func:`main`, which tests call)."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    log.setLevel(logging.INFO)  # the bench's progress; flowyml's and the SDKs' own INFO lines stay quiet


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: proves the suite runs, figures meaningless")
    parser.add_argument("--only", help=f"comma-separated cases (default all): {', '.join(CASES)}")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for the JSON results")
    parser.add_argument("--snapshot", action="store_true", help="also write <out>/latest.json (the committed copy)")
    args = parser.parse_args(argv)
    only = [c.strip() for c in args.only.split(",")] if args.only else list(CASES)
    unknown = sorted(set(only) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(CASES)}")
    settings = SMOKE if args.smoke else FULL
    doc = run_all(settings, only)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    paths = [args.out / f"bench-{settings.mode}-{stamp}.json"]
    if args.snapshot:
        paths.append(args.out / "latest.json")
    for path in paths:
        path.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    sys.stdout.write(markdown(doc) + "\n\n" + "".join(f"results: {p}\n" for p in paths))
    return 1 if any(c["status"] == ERROR for c in doc["cases"]) else 0
