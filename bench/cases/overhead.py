"""Per-step overhead: linear pipelines of N trivial steps against a Python loop calling the same functions.

Measured the way the peers were: one fresh process per repetition, and the timed call covers
making the steps, building the pipeline and running it once (cache off, default settings).
The same process then re-runs the same pipeline (``warm``), which shows the steady-state cost.
"""

from __future__ import annotations

from bench.model import CaseResult, Row, median, summary
from bench.proc import PYTHON, REPO_ROOT, child_env, json_line, timed_run
from bench.settings import Settings


def _child(n: int, warm_reps: int) -> dict[str, float | list[float]]:
    _, _, out = timed_run(
        [PYTHON, "-m", "bench.workloads", "linear", str(n), str(warm_reps)], cwd=REPO_ROOT, env=child_env()
    )
    return json_line(out)


def run(settings: Settings) -> CaseResult:
    result = CaseResult("overhead", "Per-step overhead of a linear pipeline (cache off) over a plain loop")
    cold: dict[int, list[float]] = {}
    cold_cpu: dict[int, list[float]] = {}
    plain: dict[int, list[float]] = {}
    warm: dict[int, list[float]] = {}
    for n in settings.chain_sizes:
        cold[n], cold_cpu[n], plain[n], warm[n] = [], [], [], []
        for _ in range(settings.chain_reps):
            doc = _child(n, settings.warm_reps)
            cold[n].append(doc["flowyml_s"])
            cold_cpu[n].append(doc["flowyml_cpu_s"])
            plain[n].append(doc["plain_s"])
            warm[n].append(median(doc["warm_s"]))
    per_step = {n: (median(cold[n]) - median(plain[n])) / n * 1e6 for n in settings.chain_sizes}
    per_step_cpu = {n: (median(cold_cpu[n]) - median(plain[n])) / n * 1e6 for n in settings.chain_sizes}
    per_step_warm = {n: (median(warm[n]) - median(plain[n])) / n * 1e6 for n in settings.chain_sizes}
    result.details = {
        "run_s": {str(n): summary(cold[n], 1, 6) for n in cold},
        "plain_s": {str(n): summary(plain[n], 1, 7) for n in plain},
        "warm_run_s": {str(n): summary(warm[n], 1, 6) for n in warm},
        "us_per_step_over_plain": {str(n): round(v, 2) for n, v in per_step.items()},
        "us_per_step_over_plain_cpu": {str(n): round(v, 2) for n, v in per_step_cpu.items()},
        "us_per_step_over_plain_warm": {str(n): round(v, 2) for n, v in per_step_warm.items()},
    }
    sizes = list(settings.chain_sizes)
    for n in sizes:
        key = f"step_overhead_{n}"
        result.rows.append(
            Row.of(
                key,
                f"overhead per step, {n}-step chain (first run in a fresh process)",
                round(per_step[n], 1),
                "µs",
                f"run {median(cold[n]) * 1000:.2f} ms (min {min(cold[n]) * 1000:.2f}) vs plain loop "
                f"{median(plain[n]) * 1e6:.1f} µs; in CPU time {per_step_cpu[n]:.1f} µs/step; "
                f"re-run of the same pipeline: {per_step_warm[n]:.1f} µs/step",
            )
        )
    if len(sizes) >= 2:  # the peers' derived figure: (median(N=100) - median(N=10)) / 90
        lo, hi = sizes[0], sizes[1]
        marginal = (median(cold[hi]) - median(cold[lo])) / (hi - lo) * 1e6
        result.details["marginal_us_per_step"] = {f"{lo}->{hi}": round(marginal, 2)}
        result.rows.append(
            Row.of(
                "step_marginal",
                f"marginal cost per step, N={lo}→{hi} (the peers' ms/step method)",
                round(marginal, 1),
                "µs",
                "comparable with RESULTS.md's 'ms/step (run call)' column",
            )
        )
    return result
