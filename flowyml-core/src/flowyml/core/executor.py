"""Running steps: :class:`LocalExecutor` and the :class:`ExecutionResult` it returns."""

from __future__ import annotations

__all__ = ["Executor", "LocalExecutor", "ExecutionResult", "StepExitError", "StepTimeoutError"]

import abc
import contextlib
import contextvars
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from flowyml.core.capture import capture_output
from flowyml.core.errors import FlowymlError, StopExecution
from flowyml.core.step import Step

#: The artifact name of the value of a step that declares no outputs (read back under the step's name).
UNNAMED_OUTPUT = "output"


@attrs.define
class ExecutionResult:
    """What happened when one step ran."""

    step_name: str
    success: bool
    output: Any = None
    error: str | None = None
    duration_seconds: float = 0.0
    retries: int = 0
    cached: bool = False
    skipped: bool = False
    artifact_uri: str | None = None
    stopped: bool = False
    logs: str = ""
    artifact_uris: dict[str, str] = attrs.field(factory=dict)

    @property
    def status(self) -> str:
        """``ok``, ``cached``, ``skipped``, ``stopped`` or ``failed`` — for summaries."""
        if self.stopped:
            return "stopped"
        if not self.success:
            return "failed"
        if self.skipped:
            return "skipped"
        return "cached" if self.cached else "ok"


def map_outputs(step: Step, value: Any) -> dict[str, Any]:
    """Name a step's return value by its declared outputs (one value, a tuple, or a dict)."""
    outs = step.outputs
    if not outs:
        return {}
    if len(outs) == 1:
        return {outs[0]: value}
    if isinstance(value, (list, tuple)) and len(value) == len(outs):
        return dict(zip(outs, value, strict=False))
    if isinstance(value, Mapping):
        return {name: value[name] for name in outs if name in value}
    return {outs[0]: value}


def condition_kwargs(
    step: Step, inputs: Mapping[str, Any], context_params: Mapping[str, Any], all_outputs: Mapping[str, Any] | None
) -> dict[str, Any]:
    """What a condition may ask for, lowest precedence first: the keys of dict outputs, context
    params, every output so far by name, the step's inputs.

    Among dict-output keys, the step's own inputs win, then the most recent outputs, so
    ``condition=lambda quality_score: ...`` reads the score of the data the step consumes.
    """
    kwargs: dict[str, Any] = {}
    if all_outputs:
        own = [all_outputs[name] for name in step.inputs if name in all_outputs]
        for val in [*all_outputs.values(), *own]:
            if isinstance(val, Mapping):
                kwargs.update({k: v for k, v in val.items() if isinstance(k, str)})
    kwargs.update(context_params)
    if all_outputs:
        kwargs.update(all_outputs)
    kwargs.update(inputs)
    return kwargs


@attrs.define
class StepCall:
    """A step whose condition passed and whose cache missed: the arguments and the cache key."""

    kwargs: dict[str, Any]
    cache_key: str | None


def evaluate_condition(
    step: Step, inputs: Mapping[str, Any], context_params: Mapping[str, Any], all_outputs: Mapping[str, Any] | None
) -> Any:
    """Call the step's condition with what it asks for (the result may be awaitable for async conditions)."""
    assert step.condition is not None
    return step.condition(
        **accepted_kwargs(step.condition, condition_kwargs(step, inputs, context_params, all_outputs))
    )


def prepare_call(
    step: Step, inputs: Mapping[str, Any], context_params: Mapping[str, Any], cache_store: Any, started: float
) -> StepCall | ExecutionResult:
    """Look the step up in the cache (an ``ExecutionResult`` on a hit) and build its arguments.

    Conditions see every context parameter; the step and its cache key only the ones it takes.
    """
    kwargs = step.accepted({**context_params, **inputs})
    required = step.required_params
    if required and not all(p in kwargs for p in required):
        return missing_parameters(step, [p for p in required if p not in kwargs], started)
    cache_key = None
    if cache_store is not None and step.cache:
        step_params = {k: v for k, v in kwargs.items() if k not in inputs}
        cache_key = step.get_cache_key(inputs, context_params=step_params)
        hit, value = cache_lookup(cache_store, cache_key)
        if hit:
            return ExecutionResult(step.name, True, output=value, cached=True, duration_seconds=_since(started))
    return StepCall(kwargs, cache_key)


def missing_parameters(step: Step, missing: Sequence[str], started: float) -> ExecutionResult:
    """A step whose required parameters nothing provides fails before it is called, saying why."""
    names = ", ".join(repr(m) for m in missing)
    error = (
        f"MissingParameterError: step {step.name!r} needs {names}, which no input, output or context "
        f"parameter provides (declared inputs: {step.inputs or 'none'}); declare the input, add the "
        "parameter to the context, or give it a default"
    )
    return ExecutionResult(step.name, False, error=error, duration_seconds=_since(started))


def skipped(step: Step, started: float) -> ExecutionResult:
    return ExecutionResult(step.name, True, skipped=True, duration_seconds=_since(started))


def condition_failed(step: Step, exc: BaseException, started: float) -> ExecutionResult:
    return ExecutionResult(
        step.name, False, error=f"condition check failed: {format_error(exc)}", duration_seconds=_since(started)
    )


def stopped(step: Step, exc: BaseException, retries: int, logs: str, started: float) -> ExecutionResult:
    error = f"execution stopped by the step: {exc}" if str(exc) else "execution stopped by the step"
    return ExecutionResult(
        step.name, False, error=error, stopped=True, retries=retries, logs=logs, duration_seconds=_since(started)
    )


def failed(step: Step, exc: BaseException, retries: int, logs: str, started: float) -> ExecutionResult:
    """The last attempt failed: ``retries`` counts every failed attempt, the last one included (as FlowyML)."""
    return ExecutionResult(
        step.name, False, error=format_error(exc), retries=retries + 1, logs=logs, duration_seconds=_since(started)
    )


class Attempts:
    """A step's attempts: the one retry policy behind the sync and the async executor.

    After a failed attempt, :meth:`after_failure` answers the seconds to wait before the next
    one, or the step's final result (stopped, or failed once ``step.retry`` retries are spent).
    """

    def __init__(self, step: Step, delay: Callable[[int], float], started: float) -> None:
        self.step, self.delay, self.started = step, delay, started
        self.retries = 0
        self.logs = ""

    def after_failure(self, exc: Exception) -> float | ExecutionResult:
        self.logs = getattr(exc, "_flowyml_logs", self.logs)
        if isinstance(exc, StopExecution):
            return stopped(self.step, exc, self.retries, self.logs, self.started)
        if self.retries < self.step.retry:
            self.retries += 1
            return self.delay(self.retries - 1)
        return failed(self.step, exc, self.retries, self.logs, self.started)

    def succeeded(self, output: Any, logs: str) -> ExecutionResult:
        return ExecutionResult(self.step.name, True, output=output, retries=self.retries, logs=logs)


def _since(started: float) -> float:
    return time.perf_counter() - started


def default_retry_delay() -> float:
    """``$FLOWYML_RETRY_BASE_DELAY`` or 1 s."""
    return float(os.environ.get("FLOWYML_RETRY_BASE_DELAY", "1.0"))


class Executor(abc.ABC):
    """The seed's executor interface (``LocalExecutor`` implements it): runs steps; subclasses decide where."""

    @abc.abstractmethod
    def execute_step(
        self,
        step: Step,
        inputs: dict[str, Any],
        context_params: dict[str, Any],
        cache_store: Any | None = None,
        artifact_store: Any | None = None,
        run_id: str | None = None,
        project_name: str = "default",
        all_outputs: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """Run one step with its inputs and context parameters."""

    @abc.abstractmethod
    def execute_step_group(
        self,
        step_group: Any,
        inputs: dict[str, Any],
        context: Any | None = None,
        context_params: dict[str, Any] | None = None,
        cache_store: Any | None = None,
        artifact_store: Any | None = None,
        run_id: str | None = None,
        project_name: str = "default",
    ) -> list[ExecutionResult]:
        """Run a group's steps in order, as one unit."""


class LocalExecutor(Executor):
    """Runs steps in this process, with conditions, cache, retries, timeouts, capture and artifacts.

    ``retry_base_delay`` is the first retry's wait in seconds (doubling after each attempt);
    it defaults to ``$FLOWYML_RETRY_BASE_DELAY`` or 1 s. ``capture`` keeps each step's printed
    output in ``ExecutionResult.logs``.
    """

    def __init__(self, retry_base_delay: float | None = None, capture: bool = True) -> None:
        self.retry_base_delay = default_retry_delay() if retry_base_delay is None else retry_base_delay
        self.capture = capture

    # -- one step ---------------------------------------------------------------------------
    def execute_step(
        self,
        step: Step,
        inputs: dict[str, Any],
        context_params: dict[str, Any],
        cache_store: Any | None = None,
        artifact_store: Any | None = None,
        run_id: str | None = None,
        project_name: str = "default",
        all_outputs: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """Run one step: condition, cache lookup, attempts with backoff, artifacts, cache write."""
        started = time.perf_counter()
        if step.condition is not None:
            try:
                should_run = evaluate_condition(step, inputs, context_params, all_outputs)
            except Exception as exc:
                return condition_failed(step, exc, started)
            if not should_run:
                return skipped(step, started)
        call = prepare_call(step, inputs, context_params, cache_store, started)
        if isinstance(call, ExecutionResult):
            return call  # a cache hit
        attempts = Attempts(step, self.retry_delay, started)
        while True:
            try:
                output, logs = self._call(step, call.kwargs)
            except Exception as exc:
                after = attempts.after_failure(exc)
                if isinstance(after, ExecutionResult):
                    return after
                time.sleep(after)
            else:
                break
        result = attempts.succeeded(output, logs)
        self.store_outputs(step, output, call, result, artifact_store, run_id, project_name, cache_store)
        result.duration_seconds = time.perf_counter() - started
        return result

    def retry_delay(self, retries: int) -> float:
        """Seconds to wait before retry number ``retries + 1`` (exponential backoff)."""
        return float(self.retry_base_delay * 2**retries)

    def store_outputs(
        self,
        step: Step,
        output: Any,
        call: StepCall,
        result: ExecutionResult,
        artifact_store: Any,
        run_id: str | None,
        project_name: str,
        cache_store: Any,
    ) -> None:
        """Materialize the outputs and write the cache; a failure here fails the step, never silently."""
        try:
            if artifact_store is not None and run_id:
                self._materialize(step, output, artifact_store, run_id, project_name, result)
            if call.cache_key is not None:
                cache_store.set_value(call.cache_key, output, step.name, step.get_code_hash())
        except Exception as exc:
            result.success = False
            result.error = format_error(exc)

    def _call(self, step: Step, kwargs: dict[str, Any]) -> tuple[Any, str]:
        if not self.capture:
            return self._invoke(step, kwargs), ""
        with capture_output() as buf:
            try:
                out = self._invoke(step, kwargs)
            except BaseException as exc:
                exc._flowyml_logs = buf.getvalue()  # type: ignore[attr-defined]
                raise
        return out, buf.getvalue()

    def _invoke(self, step: Step, kwargs: dict[str, Any]) -> Any:
        watching, before = _watch_sigint(), _sigints[0]
        try:
            if step.timeout is None:
                return _run_callable(step, kwargs)
            return _run_with_timeout(step, kwargs, step.timeout)
        except (SystemExit, KeyboardInterrupt) as exc:
            failure = exit_as_failure(step, exc, watching, before)
            if failure is None:
                raise  # the user's Ctrl-C
            raise failure from exc

    def _materialize(
        self, step: Step, output: Any, store: Any, run_id: str, project_name: str, result: ExecutionResult
    ) -> None:
        if output is None:
            return
        named = map_outputs(step, output) or {UNNAMED_OUTPUT: output}
        for out_name, value in named.items():
            uri = store.materialize(
                obj=value, name=out_name, run_id=run_id, step_name=step.name, project_name=project_name
            )
            result.artifact_uris[out_name] = uri
        result.artifact_uri = next(iter(result.artifact_uris.values()), None)

    # -- a group ----------------------------------------------------------------------------
    def execute_step_group(
        self,
        step_group: Any,
        inputs: dict[str, Any],
        context: Any | None = None,
        context_params: dict[str, Any] | None = None,
        cache_store: Any | None = None,
        artifact_store: Any | None = None,
        run_id: str | None = None,
        project_name: str = "default",
    ) -> list[ExecutionResult]:
        """Run a group's steps in ``execution_order``; after a failure the rest are skipped.

        This is how the step-runner runs every unit, so step hooks and the metrics collector are
        called here for each step, and a run-level ``$FLOWYML_RETRY_POLICY`` re-runs a failed step
        (after its own ``retry`` attempts) with the policy's backoff.
        """
        from flowyml.core.hooks import step_ended, step_started
        from flowyml.core.retry_policy import OrchestratorRetryPolicy

        policy = OrchestratorRetryPolicy.from_env()  # set by the submitting side for run-level retries
        results: list[ExecutionResult] = []
        available = dict(inputs)
        by_name = {s.name: s for s in step_group.steps}
        order: Sequence[str] = step_group.execution_order
        for i, step_name in enumerate(order):
            step = by_name[step_name]
            step_inputs = group_inputs(step, available)
            params = dict(context) if context is not None else dict(context_params or {})
            step_started(step, step_inputs, project_name, run_id or "")
            attempt = 1
            while True:
                result = self.execute_step(
                    step,
                    step_inputs,
                    params,
                    cache_store=cache_store,
                    artifact_store=artifact_store,
                    run_id=run_id,
                    project_name=project_name,
                    all_outputs=available,
                )
                status = "COMPLETED" if result.success else ("STOPPED" if result.stopped else "FAILED")
                if policy is None or not policy.should_retry(status, attempt):
                    break
                time.sleep(policy.delay(attempt))
                attempt += 1
            step_ended(step, result, project_name, run_id or "")
            results.append(result)
            if not result.success:
                for rest in order[i + 1 :]:
                    results.append(ExecutionResult(rest, False, skipped=True, error=f"skipped: {step_name!r} failed"))
                break
            if not result.skipped and result.output is not None:
                available.update(map_outputs(step, result.output))
        return results


def group_inputs(step: Step, available: Mapping[str, Any]) -> dict[str, Any]:
    """Map available values to a step's parameters, for every step, in-process and in the step-runner.

    Each declared input goes to the parameter of the same name, else to the parameter at the
    input's position (``inputs=["data/raw"]`` fills ``def f(data)``); then any other parameter
    named like an available output is filled from it (see :attr:`Step.input_plan`).
    """
    targets, others = step.input_plan
    mapped = {param: available[name] for name, param in targets if name in available}
    for param in others:
        if param in available and param not in mapped:
            mapped[param] = available[param]
    return mapped


def accepted_kwargs(func: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The subset of ``kwargs`` that ``func`` accepts (all of them if it takes ``**kwargs``)."""
    import inspect

    params = inspect.signature(func).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(kwargs)
    return {k: v for k, v in kwargs.items() if k in params}


def cache_lookup(cache_store: Any, key: str) -> tuple[bool, Any]:
    """(hit, value) from a cache store; stores without ``lookup`` treat ``None`` as a miss."""
    lookup = getattr(cache_store, "lookup", None)
    if lookup is not None:
        hit, found = lookup(key)
        return bool(hit), found
    value = cache_store.get(key)
    return (value is not None, value)


def _run_callable(step: Step, kwargs: dict[str, Any]) -> Any:
    if not step.is_async:
        return step.func(**kwargs)
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(step.func(**kwargs))
    raise RuntimeError(
        f"step {step.name!r} is async and an event loop is already running in this thread; "
        "use `await pipeline.run_async(...)`"
    )


class StepExitError(FlowymlError):
    """A step called ``sys.exit`` / raised ``SystemExit``, or raised ``KeyboardInterrupt`` itself."""


#: How many real SIGINTs (Ctrl-C) this process received while :func:`_mark_sigint` was installed.
_sigints = [0]


def _mark_sigint(signum: int, frame: Any) -> None:
    _sigints[0] += 1
    signal.default_int_handler(signum, frame)  # raises KeyboardInterrupt, as Python's own handler


def _watch_sigint() -> bool:
    """Count real SIGINTs from now on (main thread, Python's default handler only); False if we cannot tell."""
    if threading.current_thread() is not threading.main_thread():
        return True  # a signal never raises in another thread: any KeyboardInterrupt there is the step's own
    if _sigint_watch[0]:
        return True  # installed by an earlier step (checked once: getsignal costs more than a step's bookkeeping)
    handler = signal.getsignal(signal.SIGINT)
    if handler is _mark_sigint:
        _sigint_watch[0] = True
        return True
    if handler is signal.default_int_handler:
        signal.signal(signal.SIGINT, _mark_sigint)
        _sigint_watch[0] = True
        return True
    return False


#: Whether :func:`_mark_sigint` is installed as the SIGINT handler.
_sigint_watch = [False]


def exit_as_failure(step: Step, exc: BaseException, watching: bool, before: int) -> StepExitError | None:
    """The step failure for a step's ``SystemExit`` or its own ``KeyboardInterrupt``; None for a real Ctrl-C."""
    if isinstance(exc, SystemExit):
        return StepExitError(f"step {step.name!r} called sys.exit({exc.code!r})")
    if not watching or _sigints[0] != before:
        return None
    return StepExitError(f"step {step.name!r} raised KeyboardInterrupt (not a Ctrl-C)")


@contextlib.contextmanager
def step_exits_as_failures(step: Step) -> Iterator[None]:
    """A step's ``SystemExit`` (``sys.exit(3)``), or a ``KeyboardInterrupt`` it raised itself, is a step
    failure (:class:`StepExitError`), not the process's exit; a real Ctrl-C still interrupts the run."""
    watching, before = _watch_sigint(), _sigints[0]
    try:
        yield
    except (SystemExit, KeyboardInterrupt) as exc:
        failure = exit_as_failure(step, exc, watching, before)
        if failure is None:
            raise
        raise failure from exc


class StepTimeoutError(FlowymlError, TimeoutError):
    """A step ran longer than its ``timeout``."""


def _run_with_timeout(step: Step, kwargs: dict[str, Any], timeout: float) -> Any:
    """Run in a helper thread and stop waiting after ``timeout`` (the thread cannot be killed)."""
    box: dict[str, Any] = {}
    ctx = contextvars.copy_context()

    def target() -> None:
        try:
            box["value"] = ctx.run(_run_callable, step, kwargs)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"flowyml-step-{step.name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise StepTimeoutError(f"step {step.name!r} timed out after {timeout:g}s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def format_error(exc: BaseException) -> str:
    """The error with its traceback, so a failure can be debugged from the result alone."""
    import traceback

    try:
        message = str(exc)
    except Exception:  # a user exception whose __str__ raises must not take the run down
        message = "<the exception's message could not be read>"
    return f"{type(exc).__name__}: {message}\n" + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
