"""The run registry: one SQLite row per submission, whatever the backend, shared by all processes."""

from __future__ import annotations

__all__ = ["RunRegistry", "RunRecord"]

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs

from flowyml.core.errors import RunNotFoundError
from flowyml.core.locks import locked
from flowyml.core.status import ExecutionStatus
from flowyml.plugins.types import RunHandle

#: The handle metadata key of a provisional handle: who is submitting (host, pid and start time).
SUBMITTER = "submitter"
#: Seconds a submitter on another host is assumed to be still submitting.
REMOTE_SUBMIT_GRACE = 900.0
#: The states of a row whose submission has not completed (as an SQL tuple).
_UNSUBMITTED = f"('{ExecutionStatus.SUBMITTING.value}', '{ExecutionStatus.FAILED.value}')"
_PROVISIONAL_LIKE = f'%"{SUBMITTER}": {{%'

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
#: Columns added after the first schema: (name, SQL type); registries made before get them on open.
_ADDED_COLUMNS = (("started_at", "REAL"), ("finished_at", "REAL"))
_COLUMNS = "handle, stack, status, message, created_at, updated_at, started_at, finished_at"
#: The finished states (as an SQL tuple): entering one sets the row's finished_at once.
_FINISHED = "(" + ", ".join(f"'{s.value}'" for s in ExecutionStatus if s.is_finished) + ")"


@attrs.define(frozen=True)
class RunRecord:
    """A registry row."""

    handle: RunHandle
    stack: str | None
    status: ExecutionStatus
    message: str | None
    created_at: float
    updated_at: float
    #: when the run's first unit started, as its unit results say (None until read: see set_times)
    started_at: float | None = None
    #: when the run ended: as its unit results say once read, else when the registry first saw it finished
    finished_at: float | None = None

    @property
    def run_id(self) -> str:
        return self.handle.run_id

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from submission to the end, or None while the run is not finished."""
        if self.finished_at is None or not self.status.is_finished:
            return None
        return max(0.0, self.finished_at - self.created_at)


class RunRegistry:
    """SQLite in WAL mode under the flowyml home; every call opens its own short transaction."""

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            from flowyml.home import flowyml_home

            path = flowyml_home() / "runs.db"
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Switching to WAL takes an exclusive lock that SQLite's busy handler does not wait for, so
        # registries opened at once (threads, processes) set it up one at a time. The mode persists.
        with locked(self.path.with_name(self.path.name + ".lock")), self._connect() as db:
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            have = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
            for name, kind in _ADDED_COLUMNS:
                if name not in have:
                    db.execute(f"ALTER TABLE runs ADD COLUMN {name} {kind}")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout=30000")
            db.execute("PRAGMA synchronous=NORMAL")
            yield db
        finally:
            db.close()

    def record(
        self, handle: RunHandle, stack: str | None = None, status: ExecutionStatus = ExecutionStatus.PENDING
    ) -> RunRecord:
        """Insert or replace the row for ``handle.run_id``; return the row as it now reads.

        The status of an existing row is kept, except that a SUBMITTING row (or one whose
        submission failed) takes ``status``: the backend has now accepted the run. A row
        cancelled while its submission was in flight stays CANCELLED (the caller cancels).
        """
        now = time.time()
        with self._connect() as db:
            db.execute(
                "INSERT INTO runs(run_id, backend, job_id, pipeline, stack, handle, status, message,"
                " created_at, updated_at)"
                " VALUES(?,?,?,?,?,?,?,NULL,?,?)"
                " ON CONFLICT(run_id) DO UPDATE SET backend=excluded.backend, job_id=excluded.job_id,"
                " handle=excluded.handle, stack=excluded.stack, updated_at=excluded.updated_at,"
                f" status=CASE WHEN lower(runs.status) IN {_UNSUBMITTED} AND runs.handle LIKE ?"
                " THEN excluded.status ELSE runs.status END,"
                f" message=CASE WHEN lower(runs.status) IN {_UNSUBMITTED} AND runs.handle LIKE ?"
                " THEN NULL ELSE runs.message END,"
                f" finished_at=CASE WHEN lower(runs.status) IN {_UNSUBMITTED} AND runs.handle LIKE ?"
                " THEN NULL ELSE runs.finished_at END",
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
                    _PROVISIONAL_LIKE,
                    _PROVISIONAL_LIKE,
                    _PROVISIONAL_LIKE,
                ),
            )
        return self.get(handle.run_id)

    def begin(self, handle: RunHandle, stack: str | None = None) -> bool:
        """Insert a SUBMITTING row for a submission about to start; False if the run id has a row.

        ``handle`` is provisional (see :func:`is_provisional`): what is known before the backend answers.
        """
        now = time.time()
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO runs(run_id, backend, job_id, pipeline, stack, handle, status, message,"
                " created_at, updated_at) VALUES(?,?,?,?,?,?,?,NULL,?,?) ON CONFLICT(run_id) DO NOTHING",
                (
                    handle.run_id,
                    handle.backend,
                    handle.job_id,
                    handle.pipeline_name,
                    stack,
                    handle.to_json(),
                    ExecutionStatus.SUBMITTING.value,
                    now,
                    now,
                ),
            )
            return cursor.rowcount == 1

    def resume(self, handle: RunHandle) -> bool:
        """Take over an unfinished submission (a provisional row): SUBMITTING again, by ``handle``'s submitter.

        False if the row is no longer provisional (another submitter completed it meanwhile).
        """
        with self._connect() as db:
            cursor = db.execute(
                "UPDATE runs SET handle=?, status=?, message=NULL, updated_at=? WHERE run_id=? AND handle LIKE ?",
                (handle.to_json(), ExecutionStatus.SUBMITTING.value, time.time(), handle.run_id, _PROVISIONAL_LIKE),
            )
            return cursor.rowcount == 1

    def discard(self, run_id: str) -> None:
        """Remove a provisional row this submitter created (its submission was refused before any side effect)."""
        with self._connect() as db:
            db.execute("DELETE FROM runs WHERE run_id=? AND handle LIKE ?", (run_id, _PROVISIONAL_LIKE))

    def update_status(
        self,
        run_id: str,
        status: ExecutionStatus,
        message: str | None = None,
        *,
        only_if: ExecutionStatus | None = None,
    ) -> bool:
        """Set the row's status; with ``only_if``, only while it still reads that status. True if changed."""
        now = time.time()
        sql = f"UPDATE runs SET status=?, message=?, updated_at=?, {_ENDED} WHERE run_id=?"
        args: tuple = (status.value, message, now, status.value, now, run_id)
        if only_if is not None:
            sql += " AND status=?"
            args = (*args, only_if.value)
        with self._connect() as db:
            return db.execute(sql, args).rowcount == 1

    def update_statuses(self, rows: Iterable[tuple[str, ExecutionStatus, str | None]]) -> None:
        """Record many runs' statuses in one transaction (polling rounds over hundreds of runs)."""
        now = time.time()
        values = [(status.value, message, now, status.value, now, run_id) for run_id, status, message in rows]
        if not values:
            return
        with self._connect() as db:
            db.executemany(f"UPDATE runs SET status=?, message=?, updated_at=?, {_ENDED} WHERE run_id=?", values)

    def set_times(self, run_id: str, started_at: float | None, finished_at: float | None) -> None:
        """Record when the run's first unit started and its last one ended (from its unit results).

        ``started_at`` is kept as given even when None is passed for ``finished_at``; a row with a
        ``started_at`` has had its times read (``flowyml runs`` does not read them again).
        """
        with self._connect() as db:
            db.execute(
                "UPDATE runs SET started_at=?, finished_at=COALESCE(?, finished_at) WHERE run_id=?",
                (started_at, finished_at, run_id),
            )

    def get(self, run_or_job_id: str) -> RunRecord:
        """Look a run up by run id, or by the job id its backend gave it."""
        with self._connect() as db:
            row = (
                db.execute(f"SELECT {_COLUMNS} FROM runs WHERE run_id=?", (run_or_job_id,)).fetchone()
                or db.execute(
                    f"SELECT {_COLUMNS} FROM runs WHERE job_id=? ORDER BY created_at DESC LIMIT 1",
                    (run_or_job_id,),
                ).fetchone()
            )
        if row is None:
            raise RunNotFoundError(f"no run {run_or_job_id!r} in the run registry ({self.path})")
        return _row(row)

    def find(self, run_id: str) -> RunRecord | None:
        """The row of exactly this run id, or None."""
        with self._connect() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM runs WHERE run_id=?", (run_id,)).fetchone()
        return None if row is None else _row(row)

    def list(
        self,
        limit: int = 50,
        backend: str | None = None,
        *,
        pipeline: str | None = None,
        since: float | None = None,
        statuses: Iterable[ExecutionStatus] | None = None,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Rows newest first. ``pipeline`` is a shell-style pattern (``train-*``); ``since`` an epoch time
        (rows created since); ``statuses``: rows recorded in one of them."""
        clauses: list[str] = []
        args: list[Any] = []
        if backend:
            clauses.append("backend=?")
            args.append(backend)
        if pipeline:
            clauses.append("pipeline GLOB ?")
            args.append(pipeline)
        if since is not None:
            clauses.append("created_at>=?")
            args.append(since)
        if statuses is not None:
            values = sorted({s.value for s in statuses})
            clauses.append(f"lower(status) IN ({', '.join('?' * len(values))})" if values else "0")
            args += values
        sql = f"SELECT {_COLUMNS} FROM runs"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY created_at DESC LIMIT ? OFFSET ?"
        with self._connect() as db:
            rows = db.execute(sql, (*args, limit, offset)).fetchall()
        return [_row(r) for r in rows]


#: SET clause: a row entering a finished state gets finished_at = now, once (params: status value, now).
_ENDED = f"finished_at=CASE WHEN lower(?) IN {_FINISHED} THEN COALESCE(finished_at, ?) ELSE finished_at END"


def submitter_identity() -> dict[str, Any]:
    """This process, as a provisional handle records its submitter."""
    from flowyml.plugins.processes import process_start_time

    return {"host": socket.gethostname(), "pid": os.getpid(), "start": process_start_time(os.getpid())}


def submitter_alive(handle: RunHandle, now: float | None = None) -> bool:
    """True while the process submitting a provisional handle may still be at work.

    On this host: its pid with the same start time still runs. A submitter on another host
    cannot be asked: it counts as alive for :data:`REMOTE_SUBMIT_GRACE` seconds.
    """
    from flowyml.plugins.processes import is_alive

    who = handle.metadata.get(SUBMITTER) or {}
    if not who.get("pid"):
        return False  # abandoned: its submitter gave up with the backend's state unknown
    if who.get("host") != socket.gethostname():
        return (now or time.time()) - handle.submitted_at < REMOTE_SUBMIT_GRACE
    return is_alive(int(who["pid"]), who.get("start"))


def is_provisional(handle: RunHandle) -> bool:
    """True for the handle of a submission that has not completed (the backend's own handle replaces it)."""
    return SUBMITTER in handle.metadata


def _row(row: tuple) -> RunRecord:
    handle_json, stack, status, message, created, updated, started, finished = row
    return RunRecord(
        RunHandle.from_dict(json.loads(handle_json)),
        stack,
        ExecutionStatus(status),
        message,
        created,
        updated,
        started,
        finished,
    )
