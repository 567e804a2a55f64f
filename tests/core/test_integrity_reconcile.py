"""Atomic submission against a backend that fails part-way, and reconciliation of rows whose
submitter died, for backends with and without ``find`` (in process, through the real registry)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowyml.artifacts.store import ArtifactStore
from flowyml.core.errors import RefusedError, RunNotFoundError, TransientBackendError
from flowyml.core.status import ExecutionStatus
from flowyml.orchestrators import RemoteOrchestrator
from flowyml.orchestrators.layout import RunLayout
from flowyml.orchestrators.registry import SUBMITTER, RunRegistry, is_provisional
from flowyml.orchestrators.spec import build_job_spec
from flowyml.plugins import Backend
from flowyml.plugins.manager import get_plugin_manager
from flowyml.plugins.types import JobSpec, RunHandle, StatusReport
from flowyml.testing import pipelines
from tests.submitters import dead_pid

S = ExecutionStatus


class PartwayBackend(Backend):
    """A service that creates one job per unit; ``fail_at`` makes submit fail before that unit."""

    name = "partway-fake"
    capabilities = frozenset({"cancel"})

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, str]] = {}
        self.fail_at: int | None = None
        self.error: Exception = RefusedError("quota exceeded (fake)")
        self.status_calls = 0

    def submit(self, spec: JobSpec, config) -> RunHandle:
        jobs = self.jobs.setdefault(spec.run_id, {})
        for i, unit in enumerate(spec.units):
            if i == self.fail_at:
                raise self.error
            jobs.setdefault(unit.name, "RUNNING")
        return RunHandle(self.name, spec.run_id, f"job-{spec.run_id}", units={u: f"{spec.run_id}/{u}" for u in jobs})

    def status(self, handle: RunHandle, config) -> StatusReport:
        self.status_calls += 1
        jobs = self.jobs.get(handle.run_id)
        if not jobs:
            raise RunNotFoundError(f"no jobs for {handle.run_id} (fake)")
        states = {u: S(s) for u, s in jobs.items()}
        overall = S.CANCELLED if all(s is S.CANCELLED for s in states.values()) else S.RUNNING
        return StatusReport(overall, native_state=overall.value, units=states)

    def cancel(self, handle: RunHandle, config, graceful: bool) -> bool:
        jobs = self.jobs.get(handle.run_id)
        if not jobs:
            raise RunNotFoundError(f"no jobs for {handle.run_id} (fake)")
        for unit in jobs:
            jobs[unit] = "CANCELLED"
        return True

    def logs(self, handle, config, cursor):
        return []


class FindingBackend(PartwayBackend):
    """The same service, able to look up what an earlier submit created."""

    name = "finding-fake"

    def find(self, spec: JobSpec, config) -> RunHandle | None:
        jobs = self.jobs.get(spec.run_id)
        if not jobs:
            return None
        return RunHandle(self.name, spec.run_id, f"job-{spec.run_id}", units={u: f"{spec.run_id}/{u}" for u in jobs})


@pytest.fixture(params=[PartwayBackend, FindingBackend])
def fake(request) -> Iterator[PartwayBackend]:
    backend = request.param()
    pm = get_plugin_manager()
    pm.register_backend(backend, name=backend.name)
    yield backend
    pm.unregister(backend.name)


@pytest.fixture
def orch(fake: PartwayBackend, tmp_path: Path) -> RemoteOrchestrator:
    return RemoteOrchestrator(backend=fake.name, artifact_store=str(tmp_path / "artifacts"))


def orphan(orch: RemoteOrchestrator, run_id: str, *, with_spec: bool) -> JobSpec:
    """A registry row left by a submitter that died (its pid is gone), with or without the job spec."""
    spec = build_job_spec(pipelines.two_units, run_id, orch.artifact_root)
    handle = orch._provisional_handle(spec)
    handle = handle.evolve(metadata={**handle.metadata, SUBMITTER: {"host": socket.gethostname(), "pid": dead_pid()}})
    assert orch.registry.begin(handle)
    if with_spec:
        ArtifactStore(orch.artifact_root).write_json(RunLayout(run_id).spec, spec.to_dict())
    return spec


def test_a_submit_that_fails_part_way_cancels_what_it_created_and_records_failed(fake, orch):
    fake.fail_at = 1  # the first unit's job is created, the second is refused
    with pytest.raises(RefusedError, match="quota exceeded"):
        orch.run_pipeline(pipelines.two_units, run_id="partway")
    assert fake.jobs["partway"] and set(fake.jobs["partway"].values()) == {"CANCELLED"}
    row = RunRegistry().find("partway")
    assert row is not None and row.status is S.FAILED
    assert row.message.startswith("submission failed: RefusedError: quota exceeded (fake)")
    assert "what it created was cancelled" in row.message
    fake.fail_at = None  # the same run id again: the submission completes
    sub = orch.run_pipeline(pipelines.two_units, run_id="partway")
    assert not is_provisional(RunRegistry().get("partway").handle) and sub.job_id == "job-partway"


def test_a_transient_error_at_submit_is_never_failed_and_the_next_status_reconciles(fake, orch):
    fake.fail_at, fake.error = 1, TransientBackendError("throttled (fake)")
    with pytest.raises(TransientBackendError):
        orch.run_pipeline(pipelines.two_units, run_id="unsure")
    assert RunRegistry().find("unsure").status is S.SUBMITTING  # unknown, not failed
    report = orch.get_status_report("unsure")  # the backend has a job of it: adopted
    assert report.status is S.RUNNING
    assert not is_provisional(RunRegistry().get("unsure").handle)


def test_a_dead_submitters_run_the_backend_has_is_adopted(fake, orch):
    spec = orphan(orch, "adopt-me", with_spec=True)
    fake.submit(spec, None)  # the backend accepted it just before the submitter died
    assert orch.get_status_report("adopt-me").status is S.RUNNING
    row = RunRegistry().get("adopt-me")
    assert not is_provisional(row.handle) and row.status is S.RUNNING and row.handle.units
    assert orch.stop_run("adopt-me") is True and orch.get_run_status("adopt-me") is S.CANCELLED


def test_a_dead_submitters_run_the_backend_never_got_reads_submission_interrupted(fake, orch):
    orphan(orch, "lost", with_spec=True)
    orphan(orch, "lost-early", with_spec=False)
    reports = orch.get_run_statuses(["lost", "lost-early"])
    for run_id in ("lost", "lost-early"):
        assert reports[run_id].status is S.FAILED and "submission interrupted" in reports[run_id].message
        assert RunRegistry().get(run_id).status is S.FAILED
    sub = orch.run_pipeline(pipelines.two_units, run_id="lost")  # re-submitting finishes it
    assert sub.status() is S.RUNNING and RunRegistry().get("lost").status is S.RUNNING


def test_cancel_of_a_run_still_being_submitted_is_recorded_and_undone_by_the_submitter(fake, orch):
    spec = build_job_spec(pipelines.two_units, "in-flight", orch.artifact_root)
    assert orch.registry.begin(orch._provisional_handle(spec))  # this process is the live submitter
    assert orch.get_run_status("in-flight") is S.SUBMITTING
    assert orch.stop_run("in-flight") is True
    assert RunRegistry().get("in-flight").status is S.CANCELLED
    orch.run_pipeline(pipelines.two_units, run_id="in-flight")  # the submission goes on, then cancels
    assert set(fake.jobs["in-flight"].values()) == {"CANCELLED"}
