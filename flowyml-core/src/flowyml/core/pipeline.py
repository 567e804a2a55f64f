"""``Pipeline``: steps wired by their inputs and outputs, run locally or handed to an orchestrator."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowyml.core.context import Context
from flowyml.core.dag import DAG
from flowyml.core.executor import ExecutionResult, LocalExecutor, group_inputs, map_outputs
from flowyml.core.hooks import pipeline_ended, pipeline_started, step_ended, step_started, watching_steps
from flowyml.core.names import check_name
from flowyml.core.result import DRY_RUN, SUBMITTED, PipelineResult, RunOutline
from flowyml.core.step import Step

if TYPE_CHECKING:
    from flowyml.core.cache import FileCacheStore
    from flowyml.core.retry_policy import OrchestratorRetryPolicy
    from flowyml.core.step_grouping import StepGroup

log = logging.getLogger("flowyml.run")

__all__ = ["Pipeline", "PipelineResult", "new_run_id"]


class Pipeline:
    """A named set of steps, run in dependency order.

    >>> pipeline = Pipeline("quickstart", context=context(lr=0.05))
    >>> pipeline.add_step(load_data).add_step(train_model)
    >>> result = pipeline.run()

    FlowyML's keywords work too: ``version`` (kept in each run's metadata), ``project_name`` /
    ``project``, ``executor``, ``cache_dir``, ``stack`` (the default for ``run``); the tracking
    and checkpointing switches are accepted and do nothing (see docs/migrating.md).
    ``record_runs=True`` writes each local run's record to ``runs_dir`` (default:
    ``$FLOWYML_RECORD_RUNS``; off, as a JSON write per run costs more than a small pipeline's steps).
    """

    def __init__(
        self,
        name: str,
        context: Context | Mapping[str, Any] | None = None,
        enable_cache: bool = True,
        steps: Iterable[Step] = (),
        project_name: str | None = None,
        *,
        version: str | None = None,
        project: str | None = None,
        executor: LocalExecutor | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        stack: str | None = None,
        enable_checkpointing: bool | None = None,
        enable_experiment_tracking: bool | None = None,
        auto_track: bool | None = None,
        record_runs: bool | None = None,
    ) -> None:
        self.name = check_name(name, "pipeline name")
        if record_runs is None:
            record_runs = os.environ.get("FLOWYML_RECORD_RUNS", "").lower() in ("1", "true", "yes")
        self.record_runs = record_runs
        self.context = context if isinstance(context, Context) else Context(context or {})
        self.enable_cache = enable_cache
        self.project_name = project_name or project or "default"
        self.version = version
        self.executor = executor
        self.stack = stack
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._cache_store: FileCacheStore | None = None
        self.steps: list[Step] = []
        self._dag: DAG | None = None
        self._step_groups: list[StepGroup] | None = None
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
        self._dag = None
        self._step_groups = None
        return self

    def add_steps(self, steps: Iterable[Step]) -> Pipeline:
        """Append several steps at once."""
        for s in steps:
            self.add_step(s)
        return self

    def build(self, inputs: Iterable[str] = ()) -> DAG:
        """Check the wiring and build the DAG; ``inputs`` names values the run will provide.

        Also works out the execution groups (``step_groups``).
        """
        dag = DAG(self.steps, external_inputs=inputs)
        self._step_groups = []
        if any(s.execution_group for s in self.steps):
            from flowyml.core.step_grouping import get_step_groups

            self._step_groups = get_step_groups(dag, self.steps)
        self._dag = dag
        return dag

    @property
    def dag(self) -> DAG:
        if self._dag is None:
            self.build()
        assert self._dag is not None
        return self._dag

    @property
    def step_groups(self) -> list[StepGroup]:
        """The execution groups (grouped steps only; empty if there are none), as of the last ``build()``."""
        if self._step_groups is None:
            if not any(s.execution_group for s in self.steps):
                return []
            self.build()
        return list(self._step_groups or [])

    def visualize(self) -> str:
        """The DAG as text, each step with its inputs, outputs and dependencies (FlowyML's ``visualize``)."""
        from flowyml.core.graph import DAG as Graph
        from flowyml.core.graph import Node

        graph = Graph()
        for s in self.dag.topological_sort():
            graph.add_node(Node(s.name, s, list(s.inputs), list(s.outputs)))
        graph.build_edges()
        return graph.visualize()

    def to_mermaid(self) -> str:
        """The DAG as Mermaid flowchart text (execution groups as subgraphs): :mod:`flowyml.core.visualize`."""
        from flowyml.core.visualize import to_mermaid

        return to_mermaid(self)

    def to_dot(self) -> str:
        """The DAG as Graphviz DOT text (execution groups as clusters)."""
        from flowyml.core.visualize import to_dot

        return to_dot(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """Notebooks show the DAG: an SVG drawn locally (no network), Mermaid for Markdown frontends."""
        from flowyml.core.visualize import mimebundle

        return mimebundle(self)

    def get_step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(f"pipeline {self.name!r} has no step {name!r}; steps: {[s.name for s in self.steps]}")

    # -- where runs and cache entries live -------------------------------------------------------
    @property
    def runs_dir(self) -> Path:
        """Where local runs leave ``<run_id>.json`` (``result.to_dict()``): ``$FLOWYML_HOME/runs``.

        Records are written when ``record_runs=True`` (or ``$FLOWYML_RECORD_RUNS=1``).
        """
        from flowyml.home import flowyml_home

        return flowyml_home() / "runs"

    @property
    def cache_store(self) -> FileCacheStore | None:
        """The step cache runs use (``None`` when caching is off): ``cache_dir``, else ``$FLOWYML_HOME/cache``."""
        if not self.enable_cache:
            return None
        from flowyml.core.cache import CacheStore

        root = self.cache_dir
        if root is None:
            from flowyml.home import flowyml_home

            root = flowyml_home() / "cache"
        if self._cache_store is None or self._cache_store.root != root:
            self._cache_store = CacheStore(root)
        return self._cache_store

    def cache_stats(self) -> dict[str, Any]:
        """Entries, size in MB, hits, misses and hit rate of this pipeline's cache store (``{}`` if off)."""
        store = self.cache_store
        return store.stats() if store is not None else {}

    def invalidate_cache(self, step: str | None = None, before: datetime | str | float | None = None) -> int:
        """Drop cache entries: every one, one step's (``step=``), those older than ``before``; returns the count."""
        store = self.cache_store
        if store is None:
            return 0
        return store.invalidate(step_name=step, before=before)

    def check_cache(self) -> dict[str, Any] | None:
        """The record of the latest completed local run of a pipeline of this name, or ``None``.

        Runs of this process are remembered (without their outputs); with ``record_runs`` the
        records in ``runs_dir`` count too. The record is ``result.to_dict()`` plus ``created_at``
        (the run's start time) and ``status`` (FlowyML's name for ``state``).
        """
        newest: tuple[float, dict[str, Any]] | None = None
        remembered = _completed_runs.get(self.name)
        if remembered is not None:
            run = PipelineResult.from_outline(remembered)
            newest = (run.start_time.timestamp(), run.to_dict())
        if self.record_runs or newest is None:
            newest = self._newest_record(newest)
        if newest is None:
            return None
        record = newest[1]
        return {**record, "created_at": record["start_time"], "status": record["state"]}

    def _newest_record(self, newest: tuple[float, dict[str, Any]] | None) -> tuple[float, dict[str, Any]] | None:
        """The newest completed run recorded in ``runs_dir``, or ``newest`` if that is newer."""
        import json

        prefix = new_run_id(self.name).rsplit("-", 3)[0]
        for path in self.runs_dir.glob(f"{prefix}-*.json"):
            try:
                record = json.loads(path.read_text())
                started = datetime.fromisoformat(record["start_time"]).timestamp()
            except (OSError, ValueError, KeyError, TypeError):
                continue
            mine = record.get("pipeline_name") == self.name and record.get("state") == "completed"
            if mine and (newest is None or started > newest[0]):
                newest = (started, record)
        return newest

    # -- running --------------------------------------------------------------------------------
    def run(
        self,
        inputs: Mapping[str, Any] | None = None,
        debug: bool = False,
        stack: str | None = None,
        orchestrator: Any | None = None,
        resources: Any | None = None,
        docker_config: Any | None = None,
        context: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        max_workers: int = 1,
        executor: LocalExecutor | None = None,
        cache_store: Any | None = None,
        artifact_store: Any | None = None,
        dry_run: bool = False,
        retry_policy: OrchestratorRetryPolicy | None = None,
        auto_start_ui: bool | None = None,
    ) -> PipelineResult:
        """Run every step here, in dependency order; ``max_workers > 1`` runs independent steps at once.

        A failed step stops only its dependants; independent branches finish. Steps whose
        condition is false are skipped, and so are the steps that need their outputs.

        ``stack=`` (a stack of ``flowyml.yaml``) or ``orchestrator=`` submits the run there
        instead and returns at once: the result's ``state`` is ``submitted`` and its
        ``submission_result`` waits, streams logs and loads outputs. ``resources`` and
        ``docker_config`` go to that orchestrator; in-process they are recorded in the result's
        metadata only. ``debug=True`` logs every step and prints the summary; ``retry_policy``
        re-runs failed steps with backoff; ``dry_run=True`` only checks the wiring;
        ``auto_start_ui`` is accepted for FlowyML code and ignored (there is no UI server).
        """
        stack = stack if stack is not None else (self.stack if orchestrator is None else None)
        if dry_run:
            self.build(inputs or {})
            return PipelineResult(self.name, run_id or new_run_id(self.name), state=DRY_RUN, end_time=datetime.now())
        if orchestrator is not None or stack is not None:
            return self._submit(orchestrator, stack, inputs, run_id, resources, docker_config, context, retry_policy)
        if any(s.is_async for s in self.steps):
            _refuse_inside_loop(self.name)
        options: dict[str, Any] = {
            "run_id": run_id,
            "executor": executor,
            "cache_store": cache_store,
            "artifact_store": artifact_store,
            "context": context,
            "debug": debug,
            "metadata": {"resources": resources, "docker": docker_config},
        }
        if not debug:
            return self.new_run(inputs, **options).execute(max_workers, retry_policy)
        from flowyml.core.debug import debug_logging

        with debug_logging(True):
            result = self.new_run(inputs, **options).execute(max_workers, retry_policy)
            log.info("%s", result.summary())
        return result

    def new_run(
        self,
        inputs: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        executor: LocalExecutor | None = None,
        cache_store: Any | None = None,
        artifact_store: Any | None = None,
        context: Mapping[str, Any] | None = None,
        debug: bool = False,
        metadata: Mapping[str, Any] | None = None,
    ) -> _Run:
        """Set up one local run (DAG, context, executor, cache) — shared by ``run`` and ``run_async``."""
        inputs = dict(inputs or {})
        dag = self.build(inputs)
        ctx = self.context if context is None else self.context.copy(**context)
        if cache_store is None:
            cache_store = self.cache_store
        meta = {k: v for k, v in (metadata or {}).items() if v is not None}
        meta.update(version=self.version, project=self.project_name)
        run = _Run(
            self,
            dag,
            ctx,
            executor or self.executor or LocalExecutor(),
            cache_store,
            artifact_store,
            check_name(run_id, "run id") if run_id is not None else new_run_id(self.name),
            inputs,
            debug=debug,
            metadata=meta,
        )
        pipeline_started(self, run.run_id, ctx)
        return run

    async def run_async(self, inputs: Mapping[str, Any] | None = None, **options: Any) -> PipelineResult:
        """Await a local run: ``async def`` steps run on this loop, sync steps in threads."""
        from flowyml.aio import run_local_async

        return await run_local_async(self, inputs, **options)

    def _submit(
        self,
        orchestrator: Any,
        stack: str | None,
        inputs: Mapping[str, Any] | None,
        run_id: str | None,
        resources: Any,
        docker_config: Any,
        context: Mapping[str, Any] | None,
        retry_policy: OrchestratorRetryPolicy | None,
    ) -> PipelineResult:
        """Hand the run to an orchestrator (given, or the stack's) and wrap its submission."""
        from flowyml.core.resources import DockerConfig, ResourceConfig, ResourceRequirements

        if orchestrator is None:
            from flowyml.orchestrators.remote import get_orchestrator

            orchestrator = get_orchestrator(stack)
        if isinstance(resources, ResourceRequirements):
            resources = resources.to_resource_config()
        elif isinstance(resources, Mapping):
            resources = ResourceRequirements.from_mapping(resources).to_resource_config()
        if isinstance(docker_config, Mapping):
            docker_config = DockerConfig(**dict(docker_config))
        assert resources is None or isinstance(resources, ResourceConfig)
        options: dict[str, Any] = {}
        if retry_policy is not None:
            options["retry_policy"] = retry_policy
        submission = orchestrator.run_pipeline(
            self,
            run_id=run_id,
            resources=resources,
            docker_config=docker_config,
            inputs=inputs,
            context=context,
            **options,
        )
        job_run_id = str(getattr(submission, "run_id", None) or run_id or getattr(submission, "job_id", ""))
        meta = {"resources": resources, "docker": docker_config, "version": self.version, "project": self.project_name}
        meta["orchestrator"] = getattr(orchestrator, "name", type(orchestrator).__name__)
        return PipelineResult(self.name, job_run_id, state=SUBMITTED, metadata=meta, submission_result=submission)


#: The latest completed run of each pipeline name in this process, without outputs (``check_cache``).
_completed_runs: dict[str, RunOutline] = {}


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


class ReadySteps:
    """The one DAG scheduler (threads and asyncio): hands out the steps whose dependencies all have
    results, at most ``limit`` running at once; a step a failed or skipped dependency blocks is
    recorded as such instead of run."""

    def __init__(self, run: _Run, order: list[Step], limit: int | None) -> None:
        self.run, self.pending, self.limit = run, list(order), limit

    def take(self, running: int) -> list[Step]:
        """The steps to start now, given ``running`` steps in flight."""
        start: list[Step] = []
        for step in list(self.pending):
            if self.limit is not None and running + len(start) >= self.limit:
                break
            if not all(d in self.run.results for d in self.run.dag.get_dependencies(step.name)):
                continue
            self.pending.remove(step)
            blocked = self.run.blocked_reason(step)
            if blocked is not None:
                self.run.record(step, blocked)
            else:
                start.append(step)
        return start


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
        *,
        debug: bool = False,
        metadata: Mapping[str, Any] | None = None,
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
        self.started: set[str] = set()
        self.stopped = False
        self.debug = debug
        self.metadata = dict(metadata or {})
        self.start_time = datetime.now()
        self.started_at = time.perf_counter()

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
        """(inputs, context params, executor options) for one step about to run; calls the start hooks.

        Inputs are keyed by the step's parameter names (by name, then by position, see
        :func:`group_inputs`). ``all_outputs`` is a snapshot, so steps running in other threads
        or tasks never see the dict change while their condition reads it.
        """
        inputs = group_inputs(step, self.available)
        params = {k: v for k, v in self.ctx.items() if k not in inputs}
        options = {
            "cache_store": self.cache_store,
            "artifact_store": self.artifact_store,
            "run_id": self.run_id,
            "project_name": self.pipeline.project_name,
            # only conditions read it; a snapshot, as other threads/tasks keep recording outputs
            "all_outputs": dict(self.available) if step.condition is not None else None,
        }
        if self.debug:
            log.debug("step %s starting with inputs %s", step.name, sorted(inputs))
        if watching_steps():
            self.started.add(step.name)
            step_started(step, inputs, self.pipeline.name, self.run_id)
        return inputs, params, options

    def run_step(self, step: Step) -> ExecutionResult:
        inputs, params, options = self.step_call(step)
        return self.executor.execute_step(step, inputs, params, **options)

    def record(self, step: Step, result: ExecutionResult) -> None:
        """Keep a step's result and outputs (named, and under the step's name); calls the end hooks."""
        self.results[step.name] = result
        if result.stopped:
            self.stopped = True
        if result.success and not result.skipped:
            named = map_outputs(step, result.output)
            self.available.update(named)
            if result.output is not None and step.name not in self.dag.producers:
                self.outputs[step.name] = result.output
            self.outputs.update(named)
        if not result.success:
            first = (result.error or "failed").splitlines()[0]
            log.error("step %s %s: %s", step.name, "stopped" if result.stopped else "failed", first)
        elif self.debug:
            log.debug("step %s %s in %.3fs", step.name, result.status, result.duration_seconds)
        if self.started and step.name in self.started:
            step_ended(step, result, self.pipeline.name, self.run_id)

    def finish(self, started: float | None = None) -> PipelineResult:
        ordered = {s.name: self.results[s.name] for s in self.dag.topological_sort() if s.name in self.results}
        result = PipelineResult(
            self.pipeline.name,
            self.run_id,
            ordered,
            self.outputs,
            time.perf_counter() - (self.started_at if started is None else started),
            start_time=self.start_time,
            end_time=datetime.now(),
            metadata=self.metadata,
        )
        if self.pipeline.record_runs:
            self.save_record(result)
        if result.success:
            _completed_runs[self.pipeline.name] = result.outline()
        pipeline_ended(self.pipeline, result)
        return result

    def save_record(self, result: PipelineResult) -> None:
        """``<runs_dir>/<run_id>.json``; a run never fails because its record could not be written."""
        import json

        from flowyml.core.atomic import replace_quickly

        try:
            path = self.pipeline.runs_dir / f"{result.run_id}.json"
            replace_quickly(path, json.dumps(result.to_dict(), default=str, separators=(",", ":")).encode())
        except (OSError, TypeError, ValueError) as exc:
            log.warning("could not write the run record of %s: %s", result.run_id, exc)

    def reset_failures(self) -> list[str]:
        """Forget failed steps and the steps skipped because of them, so they run again."""
        again = [
            name
            for name, r in self.results.items()
            if not r.success or (r.skipped and (r.error or "").startswith("skipped: "))
        ]
        for name in again:
            del self.results[name]
        self.stopped = False
        return again

    def execute(self, max_workers: int, retry_policy: OrchestratorRetryPolicy | None = None) -> PipelineResult:
        self.execute_pending(max_workers)
        attempt = 1
        while retry_policy is not None and retry_policy.should_retry(self.status(), attempt):
            delay = retry_policy.delay(attempt)
            again = self.reset_failures()
            log.warning("run %s: attempt %d failed; re-running %s in %.1fs", self.run_id, attempt, again, delay)
            time.sleep(delay)
            attempt += 1
            self.execute_pending(max_workers)
        if retry_policy is not None:
            self.metadata["attempts"] = attempt
        return self.finish()

    def status(self) -> str:
        if all(r.success for r in self.results.values()):
            return "COMPLETED"
        return "STOPPED" if self.stopped else "FAILED"

    def execute_pending(self, max_workers: int) -> None:
        """Run every step that has no result yet."""
        order = [s for s in self.dag.topological_sort() if s.name not in self.results]
        if max_workers <= 1:
            for step in order:
                self.record(step, self.blocked_reason(step) or self.run_step(step))
            return

        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

        ready = ReadySteps(self, order, max_workers)
        running: dict[Any, Step] = {}
        with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="flowyml-step") as pool:
            while ready.pending or running:
                for step in ready.take(len(running)):
                    running[pool.submit(self.run_step, step)] = step
                if not running:
                    continue
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    self.record(running.pop(fut), fut.result())
