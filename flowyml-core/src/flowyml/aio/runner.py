"""``PipelineRunner``: pipelines that run in the background of an asyncio service, started by triggers.

>>> runner = PipelineRunner(RunnerConfig(max_concurrent_runs=4))
>>> runner.add(pipeline, triggers=[IntervalTrigger(minutes=5)], name="refresh")
>>> await runner.start()
>>> async for outcome in runner.iter_results(timeout=5.0): ...
>>> await runner.stop()

Each firing is one job of ``flowyml.aio`` (:func:`~flowyml.aio.jobs.execute_job` under one shared
:class:`~flowyml.aio.ExecutionContext`): the concurrency limit, timeouts, retries and the
cancellation of remote runs are the ones ``run_many`` and ``RunPool`` have.
"""

from __future__ import annotations

__all__ = [
    "PipelineRunner",
    "RunnerConfig",
    "RunnerOutcome",
    "RunnerStats",
    "PipelineStats",
    "RunnerError",
    "PipelinePausedError",
    "TriggerError",
    "Overlap",
    "Backpressure",
    "MakeJob",
]

import asyncio
import collections
import datetime as dt
import functools
import inspect
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, Literal

import attrs

from flowyml.aio.jobs import ExecutionContext, Job, RunOutcome, Tracker, as_job, execute_job
from flowyml.aio.triggers import AsyncTrigger, TriggerResult
from flowyml.core.status import ExecutionStatus

log = logging.getLogger("flowyml.aio.runner")

Overlap = Literal["skip", "queue", "allow"]
Backpressure = Literal["drop_oldest", "wait"]
_OVERLAPS = ("skip", "queue", "allow")
_BACKPRESSURES = ("drop_oldest", "wait")


def _check(cond: bool, field: str, message: str) -> None:
    if not cond:
        raise ValueError(f"RunnerConfig.{field} {message}")


@attrs.define(frozen=True)
class RunnerConfig:
    """How a :class:`PipelineRunner` behaves.

    - ``max_concurrent_runs``: runs holding a slot at once, across all pipelines.
    - ``trigger_poll_interval``: seconds between two polls of each trigger.
    - ``result_queue_size``: outcomes kept for :meth:`PipelineRunner.iter_results` (0: none are kept;
      use ``result_callback``). When it is full, ``backpressure="drop_oldest"`` drops the oldest
      (counted in ``dropped_results``) and ``"wait"`` makes the finished run wait for room — with
      ``overlap="skip"`` its pipeline then skips firings until you read results.
    - ``overlap``: a firing while the same pipeline's run is still going is skipped (``"skip"``),
      queued until it ends (``"queue"``, at most ``max_queued_firings``) or run beside it (``"allow"``).
    - ``max_consecutive_failures``: failed runs in a row after which a pipeline is paused (None: never).
    - ``stop_on_error``: the first failed run stops the runner (gracefully).
    - ``graceful_shutdown_timeout``: seconds :meth:`PipelineRunner.stop` waits for running runs
      before it cancels them (a cancelled remote run is cancelled on its backend).
    - ``run_timeout``, ``retries``, ``retry_delay``: per run, as in ``run_many`` (a timed-out run is TIMED_OUT).
    """

    max_concurrent_runs: int = 10
    trigger_poll_interval: float = 1.0
    result_queue_size: int = 1000
    backpressure: Backpressure = "drop_oldest"
    overlap: Overlap = "skip"
    max_queued_firings: int = 10
    stop_on_error: bool = False
    max_consecutive_failures: int | None = 10
    graceful_shutdown_timeout: float = 30.0
    run_timeout: float | None = None
    retries: int = 0
    retry_delay: float = 1.0

    def __attrs_post_init__(self) -> None:
        _check(self.max_concurrent_runs >= 1, "max_concurrent_runs", f"must be >= 1, got {self.max_concurrent_runs}")
        poll = self.trigger_poll_interval
        _check(poll > 0, "trigger_poll_interval", f"must be > 0 s, got {poll}")
        _check(self.result_queue_size >= 0, "result_queue_size", f"must be >= 0, got {self.result_queue_size}")
        _check(self.backpressure in _BACKPRESSURES, "backpressure", f"must be one of {_BACKPRESSURES}")
        _check(self.overlap in _OVERLAPS, "overlap", f"must be one of {_OVERLAPS}, got {self.overlap!r}")
        _check(self.max_queued_firings >= 1, "max_queued_firings", f"must be >= 1, got {self.max_queued_firings}")
        failures = self.max_consecutive_failures
        _check(failures is None or failures >= 1, "max_consecutive_failures", f"must be >= 1 or None, got {failures}")
        _check(self.graceful_shutdown_timeout >= 0, "graceful_shutdown_timeout", "must be >= 0 s")
        _check(self.run_timeout is None or self.run_timeout > 0, "run_timeout", "must be > 0 s or None")
        _check(self.retries >= 0, "retries", f"must be >= 0, got {self.retries}")


class RunnerError(Exception):
    """Something the runner reports to ``error_callback`` beside failed runs."""


class PipelinePausedError(RunnerError):
    """A pipeline failed ``failures`` times in a row and its triggers are paused until ``resume(name)``."""

    def __init__(self, name: str, failures: int, last_error: BaseException | None) -> None:
        super().__init__(
            f"pipeline {name!r} paused after {failures} consecutive failed runs (last: {last_error}); "
            f"fix it, then runner.resume({name!r})"
        )
        self.name = name
        self.failures = failures
        self.last_error = last_error


class TriggerError(RunnerError):
    """A trigger's ``should_trigger`` raised; it is polled again at the next interval."""

    def __init__(self, name: str, trigger: AsyncTrigger, error: BaseException) -> None:
        super().__init__(f"trigger {trigger.describe()} of pipeline {name!r} failed: {error!r}")
        self.name = name
        self.trigger = trigger
        self.error = error


@attrs.define
class RunnerOutcome(RunOutcome):
    """A :class:`RunOutcome` (``name`` is the registered name) plus what started the run.

    ``run_id`` is the run's id (pipelines, remote runs); ``trigger`` describes the trigger
    (``"run_once"`` / ``"run_all"`` for direct calls); ``context`` is the run context it got;
    ``fired_at`` is when the trigger fired (UTC).
    """

    run_id: str | None = None
    trigger: str | None = None
    context: Mapping[str, Any] | None = None
    fired_at: dt.datetime | None = None


@attrs.define(frozen=True)
class PipelineStats:
    """One registered pipeline: its firings, runs and whether it is paused (``paused_reason``)."""

    name: str
    triggers: tuple[str, ...]
    overlap: str
    active: int
    queued_firings: int
    firings: int
    skipped_firings: int
    runs: int
    succeeded: int
    failures: int
    consecutive_failures: int
    paused: bool
    paused_reason: str | None
    last_status: str | None
    last_run_id: str | None


@attrs.define(frozen=True)
class RunnerStats:
    """A snapshot of the runner; ``stats["running"]`` works too, as the seed reads it.

    ``running``: started and not stopped; ``active_runs``: runs holding a slot; ``pending_tasks``:
    runs waiting for a slot (or a retry, or room in the result queue); ``runs`` counts finished runs.
    """

    running: bool
    pipelines: int
    active_runs: int
    pending_tasks: int
    queued_results: int
    dropped_results: int
    firings: int
    skipped_firings: int
    runs: int
    succeeded: int
    failures: int
    cancelled: int
    trigger_errors: int
    paused: tuple[str, ...]
    stopped_reason: str | None
    per_pipeline: Mapping[str, PipelineStats]

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


@attrs.define
class _Firing:
    trigger: str
    context: Mapping[str, Any] | None
    fired_at: dt.datetime


MakeJob = Callable[[str | None, Mapping[str, Any] | None], Job]


@attrs.define(eq=False)
class _Entry:
    name: str
    make_job: MakeJob
    run_ids: bool  # pipelines and remote runs get a run id per firing
    triggers: list[AsyncTrigger]
    context: Mapping[str, Any] | None
    overlap: str
    active: int = 0
    backlog: collections.deque[_Firing] = attrs.Factory(collections.deque)
    firings: int = 0
    skipped: int = 0
    runs: int = 0
    succeeded: int = 0
    failures: int = 0
    consecutive: int = 0
    paused_reason: str | None = None
    last_status: str | None = None
    last_run_id: str | None = None
    pollers: list[asyncio.Task[None]] = attrs.Factory(list)


def _accepts_context(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "context" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _job_maker(item: Any, name: str) -> tuple[MakeJob, bool]:
    """How to build a fresh job for one firing of ``item``, and whether its runs have run ids."""
    from flowyml.core.pipeline import Pipeline
    from flowyml.orchestrators.submission import SubmissionResult

    if isinstance(item, Pipeline):
        from flowyml.aio.local import run_local_async

        return (lambda run_id, ctx: Job(name, lambda: run_local_async(item, run_id=run_id, context=ctx))), True
    if isinstance(item, Job):
        rebuild = item.for_run
        if rebuild is not None:
            timeout, retries = item.timeout, item.retries
            return (
                lambda run_id, ctx: attrs.evolve(rebuild(run_id, ctx), name=name, timeout=timeout, retries=retries)
            ), True

        def same_job(run_id: str | None, ctx: Mapping[str, Any] | None) -> Job:
            if ctx:
                raise TypeError(f"{name!r} is a Job that takes no run context, but this firing has {dict(ctx)!r}")
            return attrs.evolve(item, name=name)

        return same_job, False
    if isinstance(item, SubmissionResult) or inspect.isawaitable(item):
        raise TypeError(
            f"cannot run {item!r} on every firing: it is one run. Register a Pipeline, "
            "flowyml.aio.remote(orchestrator, pipeline) (a new remote run per firing) or a coroutine function"
        )
    if callable(item):
        takes_context = _accepts_context(item)
        plain = as_job(item, name=name)  # a fresh coroutine per call of its factory

        def call(run_id: str | None, ctx: Mapping[str, Any] | None) -> Job:
            if takes_context:
                return as_job(functools.partial(item, context=dict(ctx or {})), name=name)
            if ctx:
                raise TypeError(
                    f"{name!r} takes no 'context' parameter, but this firing has the run context {dict(ctx)!r}: "
                    "add a context parameter to the function"
                )
            return plain

        return call, False
    raise TypeError(
        f"cannot register {item!r}: expected a Pipeline, flowyml.aio.remote(...), a Job, or a (coroutine) function"
    )


def _default_name(item: Any) -> str:
    return str(getattr(item, "name", None) or getattr(item, "__qualname__", None) or type(item).__name__)


def _merge(*contexts: Mapping[str, Any] | None) -> dict[str, Any] | None:
    merged: dict[str, Any] = {}
    for ctx in contexts:
        if ctx:
            merged.update(ctx)
    return merged or None


class PipelineRunner:
    """Runs registered pipelines when their triggers fire, at most ``max_concurrent_runs`` at once.

    ``result_callback(outcome)`` sees every finished run (a :class:`RunnerOutcome`);
    ``error_callback(exc)`` sees each failed run's error, a :class:`TriggerError` when a trigger
    raises and a :class:`PipelinePausedError` when a pipeline is paused. Either may be a coroutine
    function. ``async with PipelineRunner(...) as runner:`` starts it and stops it gracefully on exit.
    """

    def __init__(
        self,
        config: RunnerConfig | None = None,
        *,
        result_callback: Callable[[RunnerOutcome], Any] | None = None,
        error_callback: Callable[[BaseException], Any] | None = None,
    ) -> None:
        self.config = config = config or RunnerConfig()
        self.result_callback = result_callback
        self.error_callback = error_callback
        self._context = ExecutionContext.create(
            max_concurrency=config.max_concurrent_runs,
            timeout=config.run_timeout,
            retries=config.retries,
            retry_delay=config.retry_delay,
        )
        self._tracker = Tracker()
        self._entries: dict[str, _Entry] = {}
        self._tasks: set[asyncio.Task[RunnerOutcome]] = set()
        self._background: set[asyncio.Future[Any]] = set()
        self._queue: asyncio.Queue[RunnerOutcome] | None = (
            asyncio.Queue(config.result_queue_size) if config.result_queue_size else None
        )
        self._changed = asyncio.Event()
        self._stopped = asyncio.Event()
        self._state: Literal["new", "running", "stopping", "stopped"] = "new"
        self._forced = False
        self._stop_reason: str | None = None
        self._stop_task: asyncio.Task[None] | None = None
        self._count = 0
        self._firings = 0
        self._dropped = 0
        self._trigger_errors = 0
        self._finished: dict[ExecutionStatus, int] = dict.fromkeys(ExecutionStatus, 0)

    # -- registering -------------------------------------------------------------------------
    def add(
        self,
        item: Any,
        triggers: Iterable[AsyncTrigger] = (),
        *,
        name: str | None = None,
        context: Mapping[str, Any] | None = None,
        overlap: Overlap | None = None,
    ) -> str:
        """Register ``item`` (a Pipeline, ``flowyml.aio.remote(orch, pipeline)``, a Job or a function).

        ``context`` is the run context of every run (a firing's own context is merged over it);
        ``overlap`` overrides the config's for this pipeline. Returns the name (default: the
        pipeline's or the job's). A running runner starts polling the new triggers at once.
        """
        if self._state in ("stopping", "stopped"):
            raise RuntimeError("this PipelineRunner is stopped; create a new one")
        name = name or _default_name(item)
        if name in self._entries:
            raise ValueError(f"a pipeline named {name!r} is already registered: pass name=... to add it again")
        overlap = overlap or self.config.overlap
        if overlap not in _OVERLAPS:
            raise ValueError(f"overlap for {name!r} must be one of {_OVERLAPS}, got {overlap!r}")
        triggers = list(triggers)
        for trigger in triggers:
            if not isinstance(trigger, AsyncTrigger):
                raise TypeError(f"triggers of {name!r} must be AsyncTrigger instances, got {trigger!r}")
            if any(trigger in e.triggers for e in self._entries.values()) or triggers.count(trigger) > 1:
                raise ValueError(f"{trigger.describe()} is already used: give each pipeline its own trigger objects")
        make_job, run_ids = _job_maker(item, name)
        if context and not run_ids and not (callable(item) and _accepts_context(item)):
            raise TypeError(
                f"{name!r} cannot take a run context: only Pipelines, remote(...) and functions with a "
                "'context' parameter can"
            )
        entry = _Entry(name, make_job, run_ids, triggers, dict(context) if context else None, overlap)
        self._entries[name] = entry
        if self._state == "running":
            self._start_polling(entry)
        return name

    def remove(self, name: str) -> None:
        """Unregister ``name``: its triggers stop; a run of it that is going finishes."""
        entry = self._entry(name)
        for task in entry.pollers:
            task.cancel()
        entry.backlog.clear()
        del self._entries[name]

    def pause(self, name: str, reason: str = "paused by the user") -> None:
        """Stop polling ``name``'s triggers (queued firings are dropped) until :meth:`resume`."""
        entry = self._entry(name)
        entry.paused_reason = reason
        entry.skipped += len(entry.backlog)
        entry.backlog.clear()

    def resume(self, name: str) -> None:
        """Poll ``name``'s triggers again, from now (an interval restarts, a cron waits for its next time)."""
        entry = self._entry(name)
        entry.paused_reason = None
        entry.consecutive = 0
        for trigger in entry.triggers:
            trigger.reset()

    @property
    def names(self) -> list[str]:
        return list(self._entries)

    def _entry(self, name: str) -> _Entry:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(repr(n) for n in self._entries) or "none"
            raise KeyError(f"no pipeline named {name!r} in this runner (registered: {known})") from None

    # -- starting and stopping ----------------------------------------------------------------
    async def start(self) -> None:
        """Start polling every trigger in the background; returns at once."""
        if self._state in ("stopping", "stopped"):
            raise RuntimeError("this PipelineRunner is stopped and cannot start again; create a new one")
        if self._state == "running":
            return
        self._state = "running"
        for entry in self._entries.values():
            self._start_polling(entry)

    async def stop(self, timeout: float | None = None, *, cancel: bool = False) -> None:
        """Stop the triggers; wait up to ``timeout`` (default ``graceful_shutdown_timeout``) for running
        runs, then cancel the rest (``cancel=True``: at once). Cancelled remote runs are cancelled on
        their backend before this returns. :meth:`iter_results` ends once the queue is read."""
        if self._state in ("stopping", "stopped"):
            await self._stopped.wait()
            return
        self._state = "stopping"
        try:
            pollers = [t for e in self._entries.values() for t in e.pollers]
            for task in pollers:
                task.cancel()
            if pollers:
                await asyncio.wait(pollers)
            for entry in self._entries.values():
                entry.skipped += len(entry.backlog)
                entry.backlog.clear()
            tasks = set(self._tasks)
            if tasks and not cancel:
                limit = self.config.graceful_shutdown_timeout if timeout is None else timeout
                _, tasks = await asyncio.wait(tasks, timeout=limit)
            if tasks:
                self._forced = True
                log.warning("runner stop: cancelling %d run(s) still going", len(tasks))
                for run in tasks:
                    run.cancel()
                await asyncio.wait(tasks)
                from flowyml.orchestrators.asyncops import settle_cancellations

                await settle_cancellations()  # a remote submit cancelled in flight: its run is cancelled too
            if self._background:
                await asyncio.wait(self._background, timeout=5.0)
        except asyncio.CancelledError:  # the stop itself was cancelled (a second Ctrl-C): cancel the runs
            for run in self._tasks:
                run.cancel()
            raise
        finally:
            self._state = "stopped"
            self._stopped.set()
            self._changed.set()

    async def wait_stopped(self) -> None:
        """Return once the runner has stopped (by :meth:`stop` or ``stop_on_error``)."""
        await self._stopped.wait()

    async def __aenter__(self) -> PipelineRunner:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        await self.stop(cancel=exc_type is not None)

    @property
    def running(self) -> bool:
        return self._state == "running"

    # -- polling triggers ---------------------------------------------------------------------
    def _start_polling(self, entry: _Entry) -> None:
        for trigger in entry.triggers:
            task = asyncio.create_task(self._poll(entry, trigger), name=f"flowyml-trigger-{entry.name}")
            entry.pollers.append(task)

    async def _poll(self, entry: _Entry, trigger: AsyncTrigger) -> None:
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        loop_thread = threading.get_ident()

        def waker() -> None:  # on the loop's own thread, no self-pipe write is needed
            if threading.get_ident() == loop_thread:
                wake.set()
            else:
                loop.call_soon_threadsafe(wake.set)

        trigger.attach(waker)
        try:
            self._guard(entry, trigger, trigger.reset)
            while True:
                wake.clear()
                if entry.paused_reason is None:
                    try:
                        result: TriggerResult | bool = await trigger.should_trigger()
                    except Exception as exc:
                        self._trigger_failed(entry, trigger, exc)
                    else:
                        if result is True or (isinstance(result, TriggerResult) and result.should_run):
                            self._fire(entry, trigger, result if isinstance(result, TriggerResult) else None)
                if wake.is_set():  # woken while polling (more firings waiting): poll again at once
                    await asyncio.sleep(0)
                    continue
                timer = loop.call_later(self.config.trigger_poll_interval, wake.set)
                try:
                    await wake.wait()
                finally:
                    timer.cancel()
        finally:
            trigger.attach(None)

    def _guard(self, entry: _Entry, trigger: AsyncTrigger, call: Callable[[], Any]) -> None:
        try:
            call()
        except Exception as exc:
            self._trigger_failed(entry, trigger, exc)

    def _trigger_failed(self, entry: _Entry, trigger: AsyncTrigger, exc: Exception) -> None:
        self._trigger_errors += 1
        error = TriggerError(entry.name, trigger, exc)
        log.warning("%s", error)
        self._callback(self.error_callback, error)

    def _fire(self, entry: _Entry, trigger: AsyncTrigger, result: TriggerResult | None) -> None:
        if self._state != "running" or entry.name not in self._entries or entry.paused_reason is not None:
            return
        firing = _Firing(trigger.describe(), result.context if result else None, dt.datetime.now(dt.timezone.utc))
        entry.firings += 1
        self._firings += 1
        if entry.active and entry.overlap == "skip":
            entry.skipped += 1
            log.info("skipped a firing of %s by %s: its previous run is still going", entry.name, firing.trigger)
        elif entry.active and entry.overlap == "queue":
            if len(entry.backlog) >= self.config.max_queued_firings:
                entry.skipped += 1
                log.warning("skipped a firing of %s: %d firings already queued", entry.name, len(entry.backlog))
            else:
                entry.backlog.append(firing)
        else:
            self._launch(entry, firing, queue_result=True)

    # -- running ------------------------------------------------------------------------------
    def _launch(self, entry: _Entry, firing: _Firing, *, queue_result: bool) -> asyncio.Task[RunnerOutcome]:
        index = self._count
        self._count += 1
        entry.active += 1
        task = asyncio.create_task(self._run(entry, firing, index, queue_result), name=f"flowyml-run-{entry.name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self, entry: _Entry, firing: _Firing, index: int, queue_result: bool) -> RunnerOutcome:
        try:
            outcome = await self._execute(entry, firing, index)
            self._record(entry, outcome)
            if queue_result:
                await self._deliver(outcome)
            return outcome
        finally:
            entry.active -= 1
            if entry.backlog and not entry.active and self._state == "running" and entry.paused_reason is None:
                self._launch(entry, entry.backlog.popleft(), queue_result=True)

    async def _execute(self, entry: _Entry, firing: _Firing, index: int) -> RunnerOutcome:
        from flowyml.core.pipeline import new_run_id

        context = _merge(entry.context, firing.context)
        run_id = new_run_id(entry.name) if entry.run_ids else None
        entry.last_run_id = run_id or entry.last_run_id
        base: RunOutcome
        try:
            job = entry.make_job(run_id, context)
            base = await execute_job(job, self._context, index, self._tracker)
        except asyncio.CancelledError as exc:
            base = RunOutcome(index, entry.name, ExecutionStatus.CANCELLED, error=exc)
        except Exception as exc:  # the firing's context does not fit the target
            base = RunOutcome(index, entry.name, ExecutionStatus.FAILED, error=exc)
        fields: dict[str, Any] = {f.name: getattr(base, f.name) for f in attrs.fields(RunOutcome)}
        fields["name"] = entry.name
        return RunnerOutcome(**fields, run_id=run_id, trigger=firing.trigger, context=context, fired_at=firing.fired_at)

    def _record(self, entry: _Entry, outcome: RunnerOutcome) -> None:
        self._finished[outcome.status] += 1
        entry.runs += 1
        entry.last_status = outcome.status.name
        stopping_cancel = outcome.status is ExecutionStatus.CANCELLED and self._state == "stopping"
        if outcome.ok:
            entry.succeeded += 1
            entry.consecutive = 0
        elif not stopping_cancel:
            entry.failures += 1
            entry.consecutive += 1
            log.warning("%s run %s ended %s: %s", entry.name, outcome.run_id or "", outcome.status.name, outcome.error)
            if outcome.error is not None:
                self._callback(self.error_callback, outcome.error)
            limit = self.config.max_consecutive_failures
            registered = self._entries.get(entry.name) is entry
            if registered and limit is not None and entry.consecutive >= limit and entry.paused_reason is None:
                paused = PipelinePausedError(entry.name, entry.consecutive, outcome.error)
                self.pause(entry.name, str(paused))
                log.error("%s", paused)
                self._callback(self.error_callback, paused)
            if self.config.stop_on_error and self._state == "running":
                self._stop_reason = f"stop_on_error: {entry.name} ended {outcome.status.name}: {outcome.error}"
                self._stop_task = asyncio.create_task(self.stop(), name="flowyml-runner-stop")
        self._callback(self.result_callback, outcome)

    async def _deliver(self, outcome: RunnerOutcome) -> None:
        queue = self._queue
        if queue is None:
            return
        if self.config.backpressure == "wait" and not self._forced:
            try:
                await queue.put(outcome)
            except asyncio.CancelledError:
                self._dropped += 1
                return
        else:
            if queue.full():
                queue.get_nowait()
                self._dropped += 1
            queue.put_nowait(outcome)
        self._changed.set()

    def _callback(self, callback: Callable[[Any], Any] | None, value: Any) -> None:
        if callback is None:
            return
        try:
            result = callback(value)
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._background.add(task)
                task.add_done_callback(self._callback_done)
        except Exception:
            log.exception("runner callback %r failed", callback)

    def _callback_done(self, task: asyncio.Future[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("runner callback failed", exc_info=task.exception())

    # -- running now --------------------------------------------------------------------------
    async def run_once(self, target: Any, context: Mapping[str, Any] | None = None) -> RunnerOutcome:
        """Run the registered pipeline named ``target`` now (even if paused, whatever the overlap
        policy), or ``target`` itself if it is not a name (anything :meth:`add` takes, unregistered).

        It takes a slot like any run and counts in the stats and callbacks; its outcome is
        returned, not queued for :meth:`iter_results`. Cancelling the caller cancels the run.
        """
        if self._state in ("stopping", "stopped"):
            raise RuntimeError("this PipelineRunner is stopped")
        if isinstance(target, str):
            entry = self._entry(target)
        else:
            name = _default_name(target)
            make_job, run_ids = _job_maker(target, name)
            entry = _Entry(name, make_job, run_ids, [], None, "allow")
        firing = _Firing("run_once", context, dt.datetime.now(dt.timezone.utc))
        return await self._await(self._launch(entry, firing, queue_result=False))

    async def run_all(self, context: Mapping[str, Any] | None = None) -> list[RunnerOutcome]:
        """Run every registered pipeline that is not paused, now and concurrently; outcomes in order."""
        if self._state in ("stopping", "stopped"):
            raise RuntimeError("this PipelineRunner is stopped")
        now = dt.datetime.now(dt.timezone.utc)
        tasks = [
            self._launch(entry, _Firing("run_all", context, now), queue_result=False)
            for entry in self._entries.values()
            if entry.paused_reason is None
        ]
        try:
            return list(await asyncio.shield(asyncio.gather(*tasks)))
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
            raise

    async def _await(self, task: asyncio.Task[RunnerOutcome]) -> RunnerOutcome:
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.cancel()
            await asyncio.wait([task])
            raise

    # -- results and stats --------------------------------------------------------------------
    async def iter_results(self, timeout: float | None = None) -> AsyncIterator[RunnerOutcome]:
        """Outcomes of triggered runs as they finish. Ends when no outcome came for ``timeout``
        seconds (None: wait on), or when the runner has stopped and every queued outcome was read."""
        queue = self._queue
        if queue is None:
            raise RuntimeError("RunnerConfig.result_queue_size is 0: no results are kept; use result_callback")
        while True:
            if not queue.empty():
                yield queue.get_nowait()
                continue
            if self._state == "stopped":
                return
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout)
            except (asyncio.TimeoutError, TimeoutError):
                return

    def get_stats(self) -> RunnerStats:
        f = self._finished
        per = {
            e.name: PipelineStats(
                name=e.name,
                triggers=tuple(t.describe() for t in e.triggers),
                overlap=e.overlap,
                active=e.active,
                queued_firings=len(e.backlog),
                firings=e.firings,
                skipped_firings=e.skipped,
                runs=e.runs,
                succeeded=e.succeeded,
                failures=e.failures,
                consecutive_failures=e.consecutive,
                paused=e.paused_reason is not None,
                paused_reason=e.paused_reason,
                last_status=e.last_status,
                last_run_id=e.last_run_id,
            )
            for e in self._entries.values()
        }
        active = self._tracker.running
        return RunnerStats(
            running=self._state == "running",
            pipelines=len(self._entries),
            active_runs=active,
            pending_tasks=len(self._tasks) - active,
            queued_results=0 if self._queue is None else self._queue.qsize(),
            dropped_results=self._dropped,
            firings=self._firings,
            skipped_firings=sum(p.skipped_firings for p in per.values()),
            runs=sum(f.values()),
            succeeded=f[ExecutionStatus.COMPLETED],
            failures=sum(p.failures for p in per.values()),
            cancelled=f[ExecutionStatus.CANCELLED],
            trigger_errors=self._trigger_errors,
            paused=tuple(p.name for p in per.values() if p.paused),
            stopped_reason=self._stop_reason,
            per_pipeline=per,
        )

    stats = get_stats
