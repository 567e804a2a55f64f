"""The targets the issues set, in one table (benchmarks, not timed tests: nothing here fails CI)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """``value <= limit`` is met; ``text`` is how the report shows it, ``source`` where it comes from."""

    limit: float
    text: str
    source: str

    def met(self, value: float) -> bool:
        return value <= self.limit


TARGETS: dict[str, Target] = {
    "import_ratio": Target(6.0, "≤ 6x bare", "issue 3"),
    "heavy_modules": Target(0, "0", "issues 3, 5"),
    "heavy_modules_plugins": Target(0, "0", "issues 4, 5"),
    "cli_help_ratio": Target(6.0, "≤ 6x bare", "issue 3"),
    "step_overhead_100": Target(20.0, "≤ 20 µs", "issue 3"),
    "step_overhead_1000": Target(20.0, "≤ 20 µs", "issue 3"),
    "fanout_ratio": Target(1.1, "≤ 1.1x", "issue 3"),
    "rss_100": Target(35.0, "≤ 35 MB", "issue 3"),
    "core_distributions": Target(10, "≤ 10", "issue 3"),
    "local_first_step": Target(0.5, "≤ 0.5 s", "issue 4"),
    "status_wall": Target(0.2, "≤ 0.2 s", "issue 4"),
    "local_unit_cost": Target(50.0, "≤ 50 ms", "issue 14"),
    "async_fanout_ratio": Target(1.3, "≤ 1.3x", "issue 6"),
    "loop_lag_p99": Target(50.0, "≤ 50 ms", "issue 6"),
    "describe_jobs_per_round": Target(5, "≤ 5", "issue 5"),
    "vertex_list_calls_per_round": Target(5, "≤ 5 (500 runs)", "issue 12"),
    "azureml_list_calls_per_round": Target(5, "≤ 5 = ceil(500 runs / 100 per page)", "issue 12"),
    "artifacts_file_numpy_ratio": Target(1.5, "≤ 1.5x", "issue 14"),
    "artifacts_file_bytes_ratio": Target(1.5, "≤ 1.5x", "issue 14"),
    "artifacts_file_numpy_extra_rss": Target(0.15, "≤ 0.15x", "issue 14"),
    "artifacts_file_bytes_extra_rss": Target(0.15, "≤ 0.15x", "issue 14"),
    "artifacts_s3_numpy_ratio": Target(1.5, "≤ 1.5x", "issue 14"),
    "artifacts_s3_bytes_ratio": Target(1.5, "≤ 1.5x", "issue 14"),
    "artifacts_s3_numpy_extra_rss": Target(0.15, "≤ 0.15x", "issue 14"),
    "artifacts_s3_bytes_extra_rss": Target(0.15, "≤ 0.15x", "issue 14"),
    "ray_fanout_wall": Target(4.6, "≤ 1.3x critical path + 2 s = 4.6 s", "issue 13"),
}
