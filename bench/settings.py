"""How much work each case does: the full run, and a seconds-long smoke run for CI."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    mode: str
    import_reps: int  # fresh interpreters per statement (interleaved with bare `python -c pass`)
    cli_reps: int
    chain_sizes: tuple[int, ...]  # linear pipelines; the per-step targets are read at 100 and 1000
    chain_reps: int  # fresh processes per size
    warm_reps: int  # repeated runs of the same pipeline inside one process
    fanout_width: int
    fanout_sleep: float
    fanout_reps: int
    rss_steps: int
    rss_reps: int
    local_reps: int  # local-backend submissions timed
    local_hold: float  # seconds the first step of each of those runs stays running
    status_reps: int  # `flowyml status RUN` invocations timed
    async_width: int
    async_sleep: float
    async_reps: int
    monitor_runs: int  # concurrent local-backend runs watched by one event loop
    monitor_window: float  # seconds of steady monitoring once every one of those runs is running
    aws_runs: int  # runs polled in one round against moto
    clean_venv: bool  # build a throw-away venv with only flowyml-core (about 10 s, needs the package index)
    runner_firings: int = 2000  # PipelineRunner firings of a no-op job (overhead per firing)
    azure_runs: int = 500  # runs polled in one round against the fake Azure ML
    unit_chain_reps: int = 5  # local-backend runs of the 20-unit chain, per way of starting units


FULL = Settings(
    mode="full",
    import_reps=21,
    cli_reps=11,
    chain_sizes=(10, 100, 1000),
    chain_reps=7,
    warm_reps=7,
    fanout_width=8,
    fanout_sleep=0.5,
    fanout_reps=5,
    rss_steps=100,
    rss_reps=3,
    local_reps=5,
    local_hold=0.3,
    status_reps=11,
    async_width=50,
    async_sleep=0.2,
    async_reps=3,
    monitor_runs=200,
    monitor_window=10.0,
    aws_runs=500,
    clean_venv=True,
)

SMOKE = Settings(
    mode="smoke",
    import_reps=2,
    cli_reps=2,
    chain_sizes=(5, 10),
    chain_reps=1,
    warm_reps=2,
    fanout_width=4,
    fanout_sleep=0.02,
    fanout_reps=1,
    rss_steps=10,
    rss_reps=1,
    local_reps=1,
    local_hold=0.0,
    status_reps=1,
    async_width=5,
    async_sleep=0.02,
    async_reps=1,
    monitor_runs=1,
    monitor_window=0.1,
    aws_runs=2,
    clean_venv=False,
    runner_firings=20,
    azure_runs=2,
    unit_chain_reps=1,
)
