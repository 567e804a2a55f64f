"""FlowyML's module name for :class:`~flowyml.core.status.ExecutionStatus`."""

from flowyml.core.status import ExecutionStatus

__all__ = ["ExecutionStatus"]
