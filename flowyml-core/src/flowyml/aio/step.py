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
from flowyml.core.errors import StopExecution
from flowyml.core.executor import (
    ExecutionResult,
    LocalExecutor,
    StepTimeoutError,
    _accepted,
    _cache_lookup,
    _default_retry_delay,
    _format_error,
    condition_kwargs,
)
from flowyml.core.step import Step


async def execute_step_async(
    executor: Any,
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
    """Run an ``async def`` step on the running loop, with the same semantics as the sync executor."""
    start = time.perf_counter()
    name = step.name

    def elapsed() -> float:
        return time.perf_counter() - start

    if step.condition is not None:
        try:
            should_run = step.condition(
                **_accepted(step.condition, condition_kwargs(step, inputs, context_params, all_outputs))
            )
            if inspect.isawaitable(should_run):
                should_run = await should_run
        except Exception as exc:
            return ExecutionResult(
                name, False, error=f"condition check failed: {_format_error(exc)}", duration_seconds=elapsed()
            )
        if not should_run:
            return ExecutionResult(name, True, skipped=True, duration_seconds=elapsed())

    step_params = step.accepted(context_params)
    cache_key = None
    if cache_store is not None and step.cache:
        cache_key = step.get_cache_key(inputs, context_params=step_params)
        hit, value = await run_blocking(_cache_lookup, cache_store, cache_key)
        if hit:
            return ExecutionResult(name, True, output=value, cached=True, duration_seconds=elapsed())

    kwargs = step.accepted({**step_params, **inputs})
    base_delay = getattr(executor, "retry_base_delay", None)
    base_delay = _default_retry_delay() if base_delay is None else base_delay
    capture = getattr(executor, "capture", True)
    retries = 0
    logs = ""
    while True:
        try:
            output, logs = await _attempt(step, kwargs, capture)
            break
        except StopExecution as exc:
            return ExecutionResult(
                name,
                False,
                error=f"execution stopped by the step: {exc}" if str(exc) else "execution stopped by the step",
                stopped=True,
                retries=retries,
                logs=logs,
                duration_seconds=elapsed(),
            )
        except Exception as exc:
            logs = getattr(exc, "_flowyml_logs", logs)
            if retries < step.retry:
                await asyncio.sleep(base_delay * 2**retries)
                retries += 1
                continue
            return ExecutionResult(
                name, False, error=_format_error(exc), retries=retries, logs=logs, duration_seconds=elapsed()
            )

    result = ExecutionResult(name, True, output=output, retries=retries, logs=logs)
    if (artifact_store is not None and run_id) or cache_key is not None:
        try:
            await run_blocking(
                _store, executor, step, output, artifact_store, run_id, project_name, cache_store, cache_key, result
            )
        except Exception as exc:  # an output that cannot be stored is a failed step, never swallowed
            result.success = False
            result.error = _format_error(exc)
    result.duration_seconds = elapsed()
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
    if step.timeout is None:
        return await step.func(**kwargs)
    try:
        return await asyncio.wait_for(step.func(**kwargs), step.timeout)
    except asyncio.TimeoutError:
        raise StepTimeoutError(f"step {step.name!r} timed out after {step.timeout:g}s") from None


def _store(
    executor: Any,
    step: Step,
    output: Any,
    artifact_store: Any,
    run_id: str | None,
    project_name: str,
    cache_store: Any,
    cache_key: str | None,
    result: ExecutionResult,
) -> None:
    if artifact_store is not None and run_id:
        materialize = getattr(executor, "_materialize", None) or LocalExecutor()._materialize
        materialize(step, output, artifact_store, run_id, project_name, result)
    if cache_key is not None:
        cache_store.set_value(cache_key, output, step.name, step.get_code_hash())
