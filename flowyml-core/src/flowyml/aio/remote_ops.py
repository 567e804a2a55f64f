"""The async remote API (implemented in :mod:`flowyml.orchestrators.asyncops`, re-exported here)."""

from __future__ import annotations

from flowyml.core.errors import RunTimedOutError
from flowyml.orchestrators.asyncops import (
    DEFAULT_CANCEL_GRACE,
    get_run_status_async,
    get_status_report_async,
    iter_logs_async,
    poll_slots,
    settle_cancellations,
    stop_run_async,
    stream_logs_async,
    submit_async,
    wait_async,
)

__all__ = [
    "DEFAULT_CANCEL_GRACE",
    "RunTimedOutError",
    "get_run_status_async",
    "get_status_report_async",
    "iter_logs_async",
    "poll_slots",
    "settle_cancellations",
    "stop_run_async",
    "stream_logs_async",
    "submit_async",
    "wait_async",
]
