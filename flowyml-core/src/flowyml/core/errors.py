"""Every error flowyml raises on purpose derives from :class:`FlowymlError`."""

from __future__ import annotations

__all__ = [
    "FlowymlError",
    "PipelineDefinitionError",
    "StepGroupError",
    "StopExecution",
    "StepFailedError",
    "RunFailedError",
    "WaitTimeoutError",
    "RunTimedOutError",
    "ArtifactError",
    "ArtifactNotFoundError",
    "ArtifactCorruptError",
    "ArtifactExistsError",
    "ConfigError",
    "PluginError",
    "UnknownBackendError",
    "BackendError",
    "AuthError",
    "RefusedError",
    "TransientBackendError",
    "RunIdConflictError",
    "RunNotFoundError",
]


class FlowymlError(Exception):
    """Base class of flowyml's own errors."""


class PipelineDefinitionError(FlowymlError, ValueError):
    """The pipeline's steps do not form a valid DAG (cycle, missing input, duplicate output).

    A ``ValueError`` too, as FlowyML raises for an invalid pipeline.
    """


class StepGroupError(PipelineDefinitionError):
    """An execution group cannot run as one contiguous unit."""


class StopExecution(Exception):
    """Raise inside a step to stop the pipeline on purpose; the step is reported as stopped."""


class StepFailedError(FlowymlError):
    """A step failed; carries the step's name and the original error text with its traceback."""

    def __init__(self, step_name: str, error: str) -> None:
        super().__init__(f"step {step_name!r} failed: {error}")
        self.step_name = step_name
        self.error = error


class RunFailedError(FlowymlError):
    """A run ended FAILED, CANCELLED or TIMED_OUT; carries the status and the remote error."""

    def __init__(self, run_id: str, status: object, message: str | None = None) -> None:
        text = f"run {run_id!r} ended {getattr(status, 'name', status)}"
        if message:
            text += f": {message}"
        super().__init__(text)
        self.run_id = run_id
        self.status = status
        self.remote_error = message


class WaitTimeoutError(FlowymlError, TimeoutError):
    """``wait_for_completion(timeout=...)`` ran out of time; the run itself goes on."""


class RunTimedOutError(WaitTimeoutError):
    """A wait ran out of time: ``status`` is TIMED_OUT; ``cancelled`` tells whether the run was stopped."""

    def __init__(self, run_id: str, timeout: float, cancelled: bool = False, final: object = None) -> None:
        text = f"run {run_id!r} still running after {timeout:g}s"
        final_name = getattr(final, "name", None) or "STOPPING"
        text += f"; it was cancelled (now {final_name})" if cancelled else "; it goes on"
        super().__init__(text)
        from flowyml.core.status import ExecutionStatus

        self.run_id = run_id
        self.timeout = timeout
        self.status = ExecutionStatus.TIMED_OUT
        self.cancelled = cancelled
        self.final_status = final


class ArtifactError(FlowymlError):
    """An artifact could not be written or read whole."""


class ArtifactNotFoundError(ArtifactError, KeyError):
    """No artifact exists at the URI."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class ArtifactCorruptError(ArtifactError):
    """An artifact's bytes do not match the checksum in its manifest."""


class ArtifactExistsError(ArtifactError):
    """A create-only write found an object already there."""


class ConfigError(FlowymlError, ValueError):
    """``flowyml.yaml`` (or a backend's settings) is invalid; names the file and key path.

    A ``ValueError`` too, so FlowyML code catching ``validate()``'s ``ValueError`` keeps working.
    """


class PluginError(FlowymlError):
    """A backend is unknown, failed to load, or is missing its SDK."""


class UnknownBackendError(PluginError, LookupError):
    """No installed plugin provides this backend (or URI scheme); the message lists what is installed."""


class BackendError(FlowymlError):
    """A backend operation failed for a reason that is not the job's own failure."""


class AuthError(BackendError):
    """The service rejected our credentials or permissions (401/403), or none were found.

    The message says in one line what to set (credentials, a role, a permission).
    """


class RefusedError(BackendError):
    """The service understood the request and said no (invalid request, quota, conflict)."""


class TransientBackendError(BackendError):
    """The service could not be reached or throttled us, even after retries.

    Never means the job failed: the run's state is simply not known right now.
    """


class RunIdConflictError(FlowymlError):
    """A run with this id exists and is not this submission: nothing was written or submitted."""

    def __init__(self, run_id: str, why: str) -> None:
        super().__init__(
            f"run id {run_id!r} is taken: {why}; nothing was submitted. Use a new run id (--run-id), "
            "or leave it out to get a generated one"
        )
        self.run_id = run_id


class RunNotFoundError(BackendError, LookupError):
    """The backend has no job (or the registry no run) with this id."""
