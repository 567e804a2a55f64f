"""``Pipeline``: steps wired by their inputs and outputs, run locally or handed to an orchestrator."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from flowyml.core.context import Context
from flowyml.core.dag import DAG
from flowyml.core.errors import StepFailedError
from flowyml.core.executor import ExecutionResult, LocalExecutor, map_outputs
from flowyml.core.step import Step


class PipelineResult(Mapping[str, Any]):
    """The outcome of a run: ``success``, ``run_id``, outputs by name and per-step results."""

    def __init__(
        self,
        pipeline_name: str,
        run_id: str,
        step_results: dict[str, ExecutionResult],
        outputs: dict[str, Any],
        duration_seconds: float,
    ) -> None:
        self.pipeline_name = pipeline_name
        self.run_id = run_id
        self.step_results = step_results
        self.outputs = outputs
        self.duration_seconds = duration_seconds

    @property
    def success(self) -> bool:
        return all(r.success for r in self.step_results.values())

    @property
    def stopped(self) -> bool:
        return any(r.stopped for r in self.step_results.values())

    @property
    def failed_steps(self) -> list[str]:
        return [name for name, r in self.step_results.items() if not r.success]

    @property
    def error(self) -> str | None:
        """The first failed step's error, with its traceback."""
        for r in self.step_results.values():
            if not r.success:
                return f"{r.step_name}: {r.error}"
        return None

    def raise_for_failure(self) -> PipelineResult:
        """Raise :class:`StepFailedError` for the first failed step; return self otherwise."""
        for r in self.step_results.values():
            if not r.success:
                raise StepFailedError(r.step_name, r.error or "failed")
        return self

    def __getitem__(self, key: str) -> Any:
        if key in self.outputs:
            return self.outputs[key]
        if key in self.step_results:
            return self.step_results[key].output
        raise KeyError(f"run {self.run_id!r} has no output {key!r}; outputs: {sorted(self.outputs)}")

    def __iter__(self) -> Iterator[str]:
        return iter(self.outputs)

    def __len__(self) -> int:
        return len(self.outputs)

    def __repr__(self) -> str:
        state = "success" if self.success else f"failed: {self.failed_steps}"
        return f"PipelineResult({self.pipeline_name!r}, run_id={self.run_id!r}, {state})"


class Pipeline:
    """A named set of steps, run in dependency order.

    >>> pipeline = Pipeline("quickstart", context=context(lr=0.05))
    >>> pipeline.add_step(load_data).add_step(train_model)
    >>> result = pipeline.run()
    """

    def __init__(
        self,
        name: str,
        context: Context | Mapping[str, Any] | None = None,
        enable_cache: bool = True,
        steps: Iterable[Step] = (),
        project_name: str = "default",
    ) -> None:
        self.name = name
        self.context = context if isinstance(context, Context) else Context(context or {})
        self.enable_cache = enable_cache
        self.project_name = project_name
        self.steps: list[Step] = []
        self._dag: DAG | None = None
        self._built = False
        self._origin = _caller_origin()
        for s in steps:
            self.add_step(s)

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, steps={[s.name for s in self.steps]})"

    def add_step(self, step: Step) -> Pipeline:
        """Append a step (a ``@step`` function); returns the pipeline so calls chain."""
        if not isinstance(step, Step):
            raise TypeError(f"add_step needs a @step-decorated function, got {step!r}")
        self.steps.append(step)
        self._built = False
        self._dag = None
        return self

    def build(self, inputs: Iterable[str] = ()) -> DAG:
        """Check the wiring and build the DAG; ``inputs`` names values the run will provide."""
        self._dag = DAG(self.steps, external_inputs=inputs)
        self._built = True
        return self._dag

    @property
    def dag(self) -> DAG:
        if self._dag is None:
            self.build()
        assert self._dag is not None
        return self._dag

    def get_step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(f"pipeline {self.name!r} has no step {name!r}; steps: {[s.name for s in self.steps]}")

    def run(
        self,
        inputs: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        max_workers: int = 1,
        executor: LocalExecutor | None = None,
        cache_store: Any | None = None,
        artifact_store: Any | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> PipelineResult:
        """Run every step here, in dependency order; ``max_workers > 1`` runs independent steps at once.

        A failed step stops only its dependants; independent branches finish. Steps whose
        condition is false are skipped, and so are the steps that need their outputs.
        """
        if any(s.is_async for s in self.steps):
            _refuse_inside_loop(self.name)
        run = self.new_run(
            inputs,
            run_id=run_id,
            executor=executor,
            cache_store=cache_store,
            artifact_store=artifact_store,
            context=context,
        )
        return run.execute(max_workers)

    def new_run(
        self,
        inputs: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        executor: LocalExecutor | None = None,
        cache_store: Any | None = None,
        artifact_store: Any | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> _Run:
        """Set up one local run (DAG, context, executor, cache) — shared by ``run`` and ``run_async``."""
        inputs = dict(inputs or {})
        dag = self.build(inputs)
        ctx = self.context if context is None else self.context.update(**context)
        if cache_store is None and self.enable_cache:
            from flowyml.core.cache import FileCacheStore

            cache_store = FileCacheStore()
        return _Run(
            self,
            dag,
            ctx,
            executor or LocalExecutor(),
            cache_store,
            artifact_store,
            run_id or new_run_id(self.name),
            inputs,
        )

    async def run_async(self, inputs: Mapping[str, Any] | None = None, **options: Any) -> PipelineResult:
        """Await a local run: ``async def`` steps run on this loop, sync steps in threads."""
        from flowyml.aio import run_local_async

        return await run_local_async(self, inputs, **options)


def _caller_origin() -> tuple[str | None, str | None]:
    """(module name, file) of the code that created the pipeline: the default pipeline reference."""
    import sys

    frame = sys._getframe(2)
    return frame.f_globals.get("__name__"), frame.f_globals.get("__file__")


def new_run_id(pipeline_name: str) -> str:
    """``<pipeline>-<yyyymmdd-hhmmss>-<6 hex>``: sortable, unique, safe in job names."""
    safe = "".join(c if c.isalnum() else "-" for c in pipeline_name.lower()).strip("-")[:40] or "run"
    return f"{safe}-{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(3).hex()}"


def _refuse_inside_loop(name: str) -> None:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        f"pipeline {name!r} has async steps and an event loop is running in this thread: "
        "use `await pipeline.run_async(...)` instead of `pipeline.run(...)`"
    )


class _Run:
    """One local run's bookkeeping: which steps are done, what they produced."""

    def __init__(
        self,
        pipeline: Pipeline,
        dag: DAG,
        ctx: Context,
        executor: LocalExecutor,
        cache_store: Any,
        artifact_store: Any,
        run_id: str,
        inputs: dict[str, Any],
    ) -> None:
        self.pipeline = pipeline
        self.dag = dag
        self.ctx = ctx
        self.executor = executor
        self.cache_store = cache_store
        self.artifact_store = artifact_store
        self.run_id = run_id
        self.available: dict[str, Any] = dict(inputs)
        self.outputs: dict[str, Any] = {}
        self.results: dict[str, ExecutionResult] = {}
        self.stopped = False

    def blocked_reason(self, step: Step) -> ExecutionResult | None:
        """A skip result if a dependency failed, was skipped, or the run was stopped."""
        if self.stopped:
            return ExecutionResult(step.name, True, skipped=True, error="skipped: the run was stopped")
        for dep in self.dag.get_dependencies(step.name):
            r = self.results[dep]
            if not r.success:
                return ExecutionResult(step.name, True, skipped=True, error=f"skipped: {dep!r} failed")
            if r.skipped:
                return ExecutionResult(step.name, True, skipped=True, error=f"skipped: {dep!r} was skipped")
        return None

    def step_call(self, step: Step) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """(inputs, context params, executor options) for one step, from what is available now.

        ``all_outputs`` is a snapshot, so steps running in other threads or tasks never see the
        dict change while their condition reads it.
        """
        inputs = {name: self.available[name] for name in step.inputs if name in self.available}
        params = {k: v for k, v in self.ctx.items() if k not in step.inputs}
        options = {
            "cache_store": self.cache_store,
            "artifact_store": self.artifact_store,
            "run_id": self.run_id,
            "project_name": self.pipeline.project_name,
            # only conditions read it; a snapshot, as other threads/tasks keep recording outputs
            "all_outputs": dict(self.available) if step.condition is not None else None,
        }
        return inputs, params, options

    def run_step(self, step: Step) -> ExecutionResult:
        inputs, params, options = self.step_call(step)
        return self.executor.execute_step(step, inputs, params, **options)

    def record(self, step: Step, result: ExecutionResult) -> None:
        self.results[step.name] = result
        if result.stopped:
            self.stopped = True
        if result.success and not result.skipped:
            named = map_outputs(step, result.output)
            self.available.update(named)
            self.outputs.update(named)

    def finish(self, started: float) -> PipelineResult:
        ordered = {s.name: self.results[s.name] for s in self.dag.topological_sort() if s.name in self.results}
        return PipelineResult(self.pipeline.name, self.run_id, ordered, self.outputs, time.perf_counter() - started)

    def execute(self, max_workers: int) -> PipelineResult:
        started = time.perf_counter()
        order = self.dag.topological_sort()
        if max_workers <= 1:
            for step in order:
                self.record(step, self.blocked_reason(step) or self.run_step(step))
            return self.finish(started)

        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

        pending = list(order)
        running: dict[Any, Step] = {}
        with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="flowyml-step") as pool:
            while pending or running:
                for step in list(pending):
                    deps = self.dag.get_dependencies(step.name)
                    if all(d in self.results for d in deps):
                        pending.remove(step)
                        blocked = self.blocked_reason(step)
                        if blocked is not None:
                            self.record(step, blocked)
                        else:
                            running[pool.submit(self.run_step, step)] = step
                if not running:
                    continue
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    self.record(running.pop(fut), fut.result())
        return self.finish(started)
