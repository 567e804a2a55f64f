"""Fan-out: independent sleeping steps run with ``max_workers`` against the critical path."""

from __future__ import annotations

import time

from bench.model import CaseResult, Row, median, summary
from bench.settings import Settings
from bench.workloads import fanout_pipeline


def run(settings: Settings) -> CaseResult:
    width, sleep = settings.fanout_width, settings.fanout_sleep
    result = CaseResult(
        "fanout", f"Fan-out of {width} independent time.sleep({sleep:g}) steps + a join, max_workers={width}"
    )
    walls = []
    for _ in range(settings.fanout_reps):
        start = time.perf_counter()
        pipeline = fanout_pipeline(width, sleep)
        outcome = pipeline.run(max_workers=width)
        walls.append(time.perf_counter() - start)
        if not outcome.success or outcome["total"] != sum(range(width)):
            raise RuntimeError(f"fan-out pipeline failed or computed the wrong total: {outcome!r}")
    wall = median(walls)
    result.details = {"wall_s": summary(walls, 1, 4), "critical_path_s": sleep}
    result.rows.append(
        Row.of(
            "fanout_ratio",
            f"wall of {width}x {sleep:g} s steps vs the {sleep:g} s critical path",
            round(wall / sleep, 3),
            "x",
            f"{wall:.3f} s (median of {settings.fanout_reps}; build + run)",
        )
    )
    return result
