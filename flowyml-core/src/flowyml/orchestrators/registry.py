"""The run registry: one SQLite row per submission, whatever the backend, shared by all processes."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs

from flowyml.core.errors import RunNotFoundError
from flowyml.core.status import ExecutionStatus
from flowyml.plugins.types import RunHandle

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    backend     TEXT NOT NULL,
    job_id      TEXT NOT NULL,
    pipeline    TEXT NOT NULL,
    stack       TEXT,
    handle      TEXT NOT NULL,
    status      TEXT NOT NULL,
    message     TEXT,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_job_id ON runs(job_id);
CREATE INDEX IF NOT EXISTS runs_created ON runs(created_at);
"""


@attrs.define(frozen=True)
class RunRecord:
    """A registry row."""

    handle: RunHandle
    stack: str | None
    status: ExecutionStatus
    message: str | None
    created_at: float
    updated_at: float

    @property
    def run_id(self) -> str:
        return self.handle.run_id


class RunRegistry:
    """SQLite in WAL mode under the flowyml home; every call opens its own short transaction."""

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            from flowyml.home import flowyml_home

            path = flowyml_home() / "runs.db"
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout=30000")
            mode = db.execute("PRAGMA journal_mode").fetchone()[0]
            if mode != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            yield db
        finally:
            db.close()

    def record(
        self, handle: RunHandle, stack: str | None = None, status: ExecutionStatus = ExecutionStatus.PENDING
    ) -> None:
        """Insert or replace the row for ``handle.run_id``."""
        now = time.time()
        with self._connect() as db:
            db.execute(
                "INSERT INTO runs(run_id, backend, job_id, pipeline, stack, handle, status, message,"
                " created_at, updated_at)"
                " VALUES(?,?,?,?,?,?,?,NULL,?,?)"
                " ON CONFLICT(run_id) DO UPDATE SET backend=excluded.backend, job_id=excluded.job_id,"
                " handle=excluded.handle, stack=excluded.stack, updated_at=excluded.updated_at",
                (
                    handle.run_id,
                    handle.backend,
                    handle.job_id,
                    handle.pipeline_name,
                    stack,
                    handle.to_json(),
                    status.value,
                    now,
                    now,
                ),
            )

    def update_status(self, run_id: str, status: ExecutionStatus, message: str | None = None) -> None:
        self.update_statuses([(run_id, status, message)])

    def update_statuses(self, rows: Iterable[tuple[str, ExecutionStatus, str | None]]) -> None:
        """Record many runs' statuses in one transaction (polling rounds over hundreds of runs)."""
        now = time.time()
        values = [(status.value, message, now, run_id) for run_id, status, message in rows]
        if not values:
            return
        with self._connect() as db:
            db.executemany("UPDATE runs SET status=?, message=?, updated_at=? WHERE run_id=?", values)

    def get(self, run_or_job_id: str) -> RunRecord:
        """Look a run up by run id, or by the job id its backend gave it."""
        with self._connect() as db:
            row = (
                db.execute(
                    "SELECT handle, stack, status, message, created_at, updated_at FROM runs WHERE run_id=?",
                    (run_or_job_id,),
                ).fetchone()
                or db.execute(
                    "SELECT handle, stack, status, message, created_at, updated_at FROM runs WHERE job_id=?"
                    " ORDER BY created_at DESC LIMIT 1",
                    (run_or_job_id,),
                ).fetchone()
            )
        if row is None:
            raise RunNotFoundError(f"no run {run_or_job_id!r} in the run registry ({self.path})")
        return _row(row)

    def list(self, limit: int = 50, backend: str | None = None) -> list[RunRecord]:
        sql = "SELECT handle, stack, status, message, created_at, updated_at FROM runs"
        args: tuple = ()
        if backend:
            sql += " WHERE backend=?"
            args = (backend,)
        sql += " ORDER BY created_at DESC LIMIT ?"
        with self._connect() as db:
            rows = db.execute(sql, (*args, limit)).fetchall()
        return [_row(r) for r in rows]


def _row(row: tuple) -> RunRecord:
    handle_json, stack, status, message, created, updated = row
    return RunRecord(
        RunHandle.from_dict(json.loads(handle_json)), stack, ExecutionStatus(status), message, created, updated
    )
