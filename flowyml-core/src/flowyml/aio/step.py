"""Running one step on the event loop: the async twin of ``LocalExecutor.execute_step``.

Condition, cache lookup, attempts with backoff (``asyncio.sleep``), timeout (``asyncio.wait_for``),
per-task output capture, StopExecution, then artifacts and the cache write (in a worker thread).
The condition/cache/materialize pieces are core's own helpers, so both paths behave the same.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any

from flowyml.aio.threads import run_blocking
from flowyml.core.capture import capture_output
from flowyml.core.executor import (
    Attempts,
    ExecutionResult,
    LocalExecutor,
    StepTimeoutError,
    condition_failed,
    evaluate_condition,
    prepare_call,
    skipped,
    step_exits_as_failures,
)
from flowyml.core.step import Step


async def execute_step_async(
    executor: LocalExecutor,
    step: Step,
    inputs: dict[str, Any],
    context_params: dict[str, Any],
    *,
    cache_store: Any | None = None,
    artifact_store: Any | None = None,
    run_id: str | None = None,
    project_name: str = "default",
    all_outputs: dict[str, Any] | None = None,
) -> ExecutionResult:
    """Run an ``async def`` step on the running loop, with the same phases as the sync executor."""
    started = time.perf_counter()
    if step.condition is not None:
        try:
            should_run = evaluate_condition(step, inputs, context_params, all_outputs)
            if inspect.isawaitable(should_run):
                should_run = await should_run
        except Exception as exc:
            return condition_failed(step, exc, started)
        if not should_run:
            return skipped(step, started)
    if cache_store is not None and step.cache:  # the lookup reads the cache: off the loop
        call = await run_blocking(prepare_call, step, inputs, context_params, cache_store, started)
    else:
        call = prepare_call(step, inputs, context_params, None, started)
    if isinstance(call, ExecutionResult):
        return call  # a cache hit
    attempts = Attempts(step, executor.retry_delay, started)
    while True:
        try:
            output, logs = await _attempt(step, call.kwargs, executor.capture)
        except Exception as exc:
            after = attempts.after_failure(exc)
            if isinstance(after, ExecutionResult):
                return after
            await asyncio.sleep(after)
        else:
            break
    result = attempts.succeeded(output, logs)
    if (artifact_store is not None and run_id) or call.cache_key is not None:
        await run_blocking(
            executor.store_outputs, step, output, call, result, artifact_store, run_id, project_name, cache_store
        )
    result.duration_seconds = time.perf_counter() - started
    return result


async def _attempt(step: Step, kwargs: dict[str, Any], capture: bool) -> tuple[Any, str]:
    if not capture:
        return await _invoke(step, kwargs), ""
    with capture_output() as buf:  # a ContextVar: this task's prints only
        try:
            out = await _invoke(step, kwargs)
        except BaseException as exc:
            exc._flowyml_logs = buf.getvalue()  # type: ignore[attr-defined]
            raise
    return out, buf.getvalue()


async def _invoke(step: Step, kwargs: dict[str, Any]) -> Any:
    with step_exits_as_failures(step):  # sys.exit() in a step fails the step, not the event loop
        if step.timeout is None:
            return await step.func(**kwargs)
        try:
            return await asyncio.wait_for(step.func(**kwargs), step.timeout)
        except asyncio.TimeoutError:
            raise StepTimeoutError(f"step {step.name!r} timed out after {step.timeout:g}s") from None
