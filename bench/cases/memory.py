"""Peak RSS of a whole process that imports flowyml and runs a linear pipeline once.

The child reports its own ``VmHWM`` (peak resident set): its ``ru_maxrss`` seen from the parent
would include the parent's RSS at fork/exec time (see :func:`bench.proc.vm_hwm_mb`).
"""

from __future__ import annotations

from bench.model import CaseResult, Row, median, skipped
from bench.proc import PYTHON, REPO_ROOT, child_env, json_line, timed_run
from bench.settings import Settings

HWM = (
    "import json, sys\n{stmt}\n"
    "hwm = [int(l.split()[1]) / 1024 for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]\n"
    "print(json.dumps({{'peak_rss_mb': hwm}}))"
)


def _peak(argv: list[str]) -> float:
    _, _, out = timed_run(argv, cwd=REPO_ROOT, env=child_env())
    return json_line(out)["peak_rss_mb"]


def run(settings: Settings) -> CaseResult:
    n = settings.rss_steps
    title = f"Peak RSS of a {n}-step run (fresh process, its own VmHWM)"
    bare = _peak([PYTHON, "-c", HWM.format(stmt="pass")])
    if bare is None:
        return skipped("memory", title, "/proc/self/status has no VmHWM on this system")
    imported = _peak([PYTHON, "-c", HWM.format(stmt="from flowyml import Pipeline, step, context")])
    runs = [_peak([PYTHON, "-m", "bench.workloads", "rss", str(n)]) for _ in range(settings.rss_reps)]
    result = CaseResult("memory", title)
    result.details = {
        "run_mb": [round(x, 1) for x in runs],
        "bare_python_mb": round(bare, 1),
        "import_mb": round(imported, 1),
    }
    result.rows.append(
        Row.of(
            f"rss_{n}",
            f"peak RSS of the process, {n}-step run",
            round(median(runs), 1),
            "MB",
            f"bare python {bare:.1f} MB; after the import {imported:.1f} MB",
        )
    )
    return result
