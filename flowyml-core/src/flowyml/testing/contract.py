"""The conformance suite every backend runs against its own fake — ours and third parties'.

Subclass :class:`BackendContract` in your test module and provide a ``contract_env`` fixture
returning a :class:`ContractEnv`; each knob you leave as ``None`` skips the tests that need it,
with the reason shown in the pytest summary::

    from flowyml.testing import BackendContract, ContractEnv

    class TestMyBackend(BackendContract):
        @pytest.fixture
        def contract_env(self, my_fake_server, tmp_path):
            return ContractEnv(backend="mybackend", config=MyConfig(endpoint=my_fake_server.url),
                               artifact_root=tmp_path.as_uri(), execute=my_fake_server.run_submitted)
"""

from __future__ import annotations

__all__ = ["BackendContract", "ContractEnv"]

import json
import os
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import attrs
import pytest

from flowyml.artifacts.store import ArtifactStore
from flowyml.core.errors import (
    ArtifactCorruptError,
    ArtifactNotFoundError,
    RunFailedError,
    TransientBackendError,
)
from flowyml.core.resources import DockerConfig
from flowyml.core.status import ExecutionStatus
from flowyml.orchestrators import RemoteOrchestrator, SubmissionResult
from flowyml.plugins import Backend
from flowyml.plugins.manager import get_plugin_manager
from flowyml.plugins.polling import poll_until
from flowyml.plugins.retry import budget, faults_left
from flowyml.plugins.retry import inject_faults as core_inject_faults
from flowyml.plugins.types import RunHandle
from flowyml.testing import pipelines


@attrs.define
class ContractEnv:
    """What a backend's fixture gives the kit: the backend to test, and knobs to drive its fake.

    What to run:

    * ``backend``: the registered backend's name (``Backend.name``).
    * ``config``: an instance of the backend's ``config_class`` pointing at the fake service.
    * ``artifact_root``: the artifact store URI the runs use (``file://`` for a self-executing
      fake, else a store the fake's jobs can reach); ``store_settings`` its settings.
    * ``env``, ``image``: the jobs' extra environment and container image (``DockerConfig``).
    * ``finish_timeout``: seconds a finished run may take to be reported finished (fakes: small;
      a real service: more).

    Knobs: each one left as ``None`` skips the tests that need it, with the reason in the pytest
    summary. What each must achieve:

    * ``execute(handle)`` makes the fake run what was submitted (each unit's command and env as a
      local subprocess, in dependency order) and record the outcome as the service would.
    * ``self_executing=True`` says the backend runs jobs by itself (the local backend, a server
      that runs its jobs); ``execute`` is then not needed.
    * ``settle(handle)`` lets the fake advance pending transitions (e.g. Stopping -> Stopped); it
      is called between status reads while a test waits for a state.
    * ``set_native_state(handle, state)`` forces every unit of the run into a native state, so
      the next status read must answer what ``Backend.native_states`` says.
    * ``inject_faults(operation, count)`` returns a context manager during which the next
      ``count`` service calls of ``operation`` ("submit", "status", "cancel", "logs") fail
      transiently. The default is core's :func:`flowyml.plugins.retry.inject_faults`, which fails
      calls in front of :func:`~flowyml.plugins.retry.call_with_retry`: route every SDK call
      through it and you need no fault knob, and your backend no test globals.
    * ``retried_calls=False`` says the backend makes no service calls (the local backend): the
      fault tests are skipped.
    * ``count_creates(handle)`` is how many create requests for this run the fake received.
    * ``lose_create_answers(count)`` returns a context manager during which the service
      *performs* the next ``count`` creates but the answers never reach us (a 5xx or a timeout
      after the fact).
    * ``state_pipeline(native_state)`` picks the pipeline to force a native state on, for
      backends whose states belong to different resource types (default: a two-unit pipeline).
    * ``process_env`` is added to the environment of the fresh process in the re-attach test
      (e.g. the secret a config field reads from the environment).
    """

    backend: str
    config: Any
    artifact_root: str
    store_settings: dict[str, str] = attrs.field(factory=dict)
    env: dict[str, str] = attrs.field(factory=dict)
    image: str = "flowyml-conformance:latest"
    execute: Callable[[RunHandle], None] | None = None
    self_executing: bool = False
    settle: Callable[[RunHandle], None] | None = None
    set_native_state: Callable[[RunHandle, str], None] | None = None
    inject_faults: Callable[[str, int], AbstractContextManager[Any]] | None = None
    retried_calls: bool = True
    count_creates: Callable[[RunHandle], int] | None = None
    lose_create_answers: Callable[[int], AbstractContextManager[Any]] | None = None
    state_pipeline: Callable[[str], Any] | None = None
    process_env: dict[str, str] = attrs.field(factory=dict)
    finish_timeout: float = 120.0


def _uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class BackendContract:
    """The contract suite. Every test name says the promise it checks."""

    @pytest.fixture(autouse=True)
    def _contract_isolation(self, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("FLOWYML_HOME", str(tmp_path / "flowyml-home"))
        monkeypatch.setenv("FLOWYML_BACKEND_RETRY_DELAY", "0.01")
        monkeypatch.setenv("FLOWYML_BACKEND_RETRY_ATTEMPTS", "4")
        budget.reset()

    @pytest.fixture
    def contract_env(self) -> ContractEnv:  # pragma: no cover - provided by the subclass
        raise NotImplementedError("define a `contract_env` fixture returning flowyml.testing.ContractEnv")

    @pytest.fixture
    def orchestrator(self, contract_env: ContractEnv) -> Iterator[RemoteOrchestrator]:
        """The backend's orchestrator; runs a test leaves unfinished are cancelled afterwards."""
        orch = RemoteOrchestrator(
            backend=contract_env.backend,
            config=contract_env.config,
            artifact_store=contract_env.artifact_root,
            store_settings=contract_env.store_settings,
            docker_config=DockerConfig(image=contract_env.image, env_vars=dict(contract_env.env)),
        )
        yield orch
        for row in orch.registry.list(limit=1000):
            if row.handle.backend != contract_env.backend:
                continue
            try:
                if not orch.get_run_status(row.handle).is_finished:
                    orch.stop_run(row.handle, graceful=False)
            except Exception as exc:  # clean-up is best effort: the test's own verdict stands
                warnings.warn(f"could not clean up run {row.run_id}: {exc}", stacklevel=1)

    @staticmethod
    def faults(env: ContractEnv) -> Callable[[str, int], AbstractContextManager[Any]]:
        if not env.retried_calls:
            pytest.skip("the backend makes no service calls (ContractEnv.retried_calls is False)")
        return env.inject_faults or core_inject_faults

    # -- helpers -------------------------------------------------------------------------------
    @staticmethod
    def run_to_end(env: ContractEnv, sub: SubmissionResult) -> ExecutionStatus:
        if env.execute is not None:
            env.execute(sub.handle)
        elif not env.self_executing:
            pytest.skip("the fixture cannot execute submitted jobs (ContractEnv.execute is None)")
        return sub.wait_for_completion(timeout=env.finish_timeout, poll_interval=0.2, raise_on_failure=False)

    @staticmethod
    def wait_for(
        orchestrator: RemoteOrchestrator,
        sub: SubmissionResult,
        wanted: set[ExecutionStatus],
        env: ContractEnv,
        timeout: float = 60.0,
    ) -> ExecutionStatus:
        """The run's status once it is one of ``wanted`` (or the last one read after ``timeout``).

        Polls with core's poll helper; before every read but the first, ``settle`` lets the fake
        advance pending transitions."""
        seen: list[ExecutionStatus] = []

        def probe() -> ExecutionStatus:
            if seen and env.settle is not None:
                env.settle(sub.handle)
            seen.append(orchestrator.get_run_status(sub.run_id))
            return seen[-1]

        found = poll_until(probe, lambda s: s in wanted, timeout=timeout, poll_interval=0.1, initial=0.1, what="kit")
        return found if found is not None else seen[-1] if seen else orchestrator.get_run_status(sub.run_id)

    # -- registration --------------------------------------------------------------------------
    def test_backend_is_registered_with_a_state_table(self, contract_env: ContractEnv) -> None:
        """The backend is a registered ``Backend`` object with an attrs config class and one
        state table whose finished states include COMPLETED and FAILED."""
        info = get_plugin_manager().backend(contract_env.backend)
        assert isinstance(info, Backend), "register a flowyml.plugins.Backend instance"
        assert info.name == contract_env.backend
        assert attrs.has(info.config_class), "config_class must be an attrs class"
        assert isinstance(contract_env.config, info.config_class)
        assert info.native_states, "Backend.native_states (the state table) is empty"
        assert all(isinstance(v, ExecutionStatus) for v in info.native_states.values())
        finished = {s for s in info.native_states.values() if s.is_finished}
        assert ExecutionStatus.COMPLETED in finished and ExecutionStatus.FAILED in finished

    # -- submit --------------------------------------------------------------------------------
    def test_submit_returns_before_the_run_finishes(
        self, contract_env: ContractEnv, orchestrator: RemoteOrchestrator
    ) -> None:
        """Submit returns a handle within 30 s while the run is still going (a 60 s step), records it in
        the run registry, and the handle serialises to JSON."""
        started = time.monotonic()
        sub = orchestrator.run_pipeline(pipelines.slow, run_id=_uid("submit"), context={"seconds": 60})
        elapsed = time.monotonic() - started
        try:
            assert sub.job_id and sub.run_id
            assert elapsed < 30, f"submit took {elapsed:.1f}s: it must not wait for the run"
            assert not orchestrator.get_run_status(sub.job_id).is_finished
            assert orchestrator.registry.get(sub.run_id).handle.job_id == sub.job_id
            json.loads(sub.to_json())  # the handle serialises
        finally:
            orchestrator.stop_run(sub.job_id)

    def test_retried_submit_finds_the_job_it_created(
        self, contract_env: ContractEnv, orchestrator: RemoteOrchestrator
    ) -> None:
        """Submitting the same run id again returns the same job and native ids, and (with
        ``count_creates``) sends no second create: submit is idempotent."""
        run_id = _uid("idem")
        first = orchestrator.run_pipeline(pipelines.two_units, run_id=run_id)
        creates = contract_env.count_creates(first.handle) if contract_env.count_creates else None
        second = orchestrator.run_pipeline(pipelines.two_units, run_id=run_id)
        assert second.job_id == first.job_id
        assert second.handle.units == first.handle.units
        if creates is not None and contract_env.count_creates is not None:
            assert contract_env.count_creates(second.handle) == creates, "a retried submit created a second job"

    # -- lifecycle -----------------------------------------------------------------------------
    def test_a_successful_run_completes_and_its_outputs_can_be_read(
        self, contract_env: ContractEnv, orchestrator: RemoteOrchestrator
    ) -> None:
        """A two-unit run (``execute`` or ``self_executing``) ends COMPLETED, its output loads from the
        artifact store, and every unit reads COMPLETED."""
        sub = orchestrator.run_pipeline(pipelines.two_units, run_id=_uid("ok"), context={"count": 4})
        assert self.run_to_end(contract_env, sub) is ExecutionStatus.COMPLETED
        assert sub.get_output("total") == 3 * (0 + 1 + 2 + 3)
        report = orchestrator.get_status_report(sub.job_id)
        assert set(report.units.values()) <= {ExecutionStatus.COMPLETED}

    def test_a_failed_run_reports_failed_with_the_step_error(
        self, contract_env: ContractEnv, orchestrator: RemoteOrchestrator
    ) -> None:
        """A run whose step raises ends FAILED, and ``wait_for_completion`` raises ``RunFailedError``
        carrying the step's own error text."""
        sub = orchestrator.run_pipeline(pipelines.failing, run_id=_uid("fail"))
        assert self.run_to_end(contract_env, sub) is ExecutionStatus.FAILED
        with pytest.raises(RunFailedError) as info:
            sub.wait_for_completion(timeout=10, poll_interval=0.1)
        assert "boom from the flowyml conformance kit" in str(info.value)

    def test_a_unit_whose_dependency_failed_reads_cancelled(
        self, contract_env: ContractEnv, orchestrator: RemoteOrchestrator
    ) -> None:
        """A run whose first unit fails ends FAILED; the unit that depends on it never starts and
        reads CANCELLED (there is no SKIPPED), and the run's error names the failing step."""
        sub = orchestrator.run_pipeline(pipelines.failing_chain, run_id=_uid("chain"))
        assert self.run_to_end(contract_env, sub) is ExecutionStatus.FAILED
        report = orchestrator.get_status_report(sub.job_id)
        assert report.units.get("explode") is ExecutionStatus.FAILED, report.units
        assert report.units.get("after_explode") is ExecutionStatus.CANCELLED, report.units
        assert "boom from the flowyml conformance kit" in (report.message or "")
        messages = [r.message for r in orchestrator.iter_logs(sub.job_id)]
        assert not any("this never runs" in m for m in messages), "the dependant ran"

    def test_cancel_ends_cancelled(self, contract_env: ContractEnv, orchestrator: RemoteOrchestrator) -> None:
        """Cancel reads STOPPING or CANCELLED at once, CANCELLED once the service confirms (``settle``
        advances the fake), and cancelling again is harmless."""
        sub = orchestrator.run_pipeline(pipelines.slow, run_id=_uid("cancel"), context={"seconds": 60})
        if contract_env.self_executing:
            self.wait_for(orchestrator, sub, {ExecutionStatus.RUNNING}, contract_env, timeout=30)
        orchestrator.stop_run(sub.job_id)
        assert orchestrator.get_run_status(sub.job_id) in {ExecutionStatus.STOPPING, ExecutionStatus.CANCELLED}
        final = self.wait_for(orchestrator, sub, {ExecutionStatus.CANCELLED}, contract_env)
        assert final is ExecutionStatus.CANCELLED
        orchestrator.stop_run(sub.job_id)  # cancel is idempotent
        assert orchestrator.get_run_status(sub.job_id) is ExecutionStatus.CANCELLED

    def test_resume_launches_only_the_units_it_reruns_and_reads_the_rest(
        self, contract_env: ContractEnv, orchestrator: RemoteOrchestrator
    ) -> None:
        """``resume_run(from_step=...)``: a new run whose reused unit is never launched (its
        outputs are read from the old run's artifacts) and whose other units run as usual."""
        first = orchestrator.run_pipeline(pipelines.two_units, run_id=_uid("resume"), context={"count": 4})
        assert self.run_to_end(contract_env, first) is ExecutionStatus.COMPLETED
        again = orchestrator.resume_run(first.run_id, from_step="total")
        assert again.run_id != first.run_id and "prep" not in again.handle.units
        assert self.run_to_end(contract_env, again) is ExecutionStatus.COMPLETED
        assert again.get_output("total") == 18 and again.get_output("data/scaled") == [0, 3, 6, 9]
        messages = [r.message for r in orchestrator.iter_logs(again.job_id)]
        assert any("summing 4 values" in m for m in messages), messages
        assert not any("making" in m for m in messages), "the reused unit ran again"

    # -- logs ----------------------------------------------------------------------------------
    def test_logs_resume_from_a_cursor_without_duplicates(
        self, contract_env: ContractEnv, orchestrator: RemoteOrchestrator
    ) -> None:
        """After a run, logs hold both units' lines, every record has a cursor, a pass from any record's
        cursor returns exactly the records after it, and following a finished run reads them all and ends
        (the pass after the end)."""
        sub = orchestrator.run_pipeline(pipelines.two_units, run_id=_uid("logs"))
        assert self.run_to_end(contract_env, sub) is ExecutionStatus.COMPLETED
        records = list(orchestrator.iter_logs(sub.job_id))
        messages = [r.message for r in records]
        assert any("making 5 numbers" in m for m in messages), messages
        assert any("summing 5 values" in m for m in messages), messages
        assert all(r.cursor for r in records)
        middle = len(records) // 2
        rest = list(orchestrator.iter_logs(sub.job_id, cursor=records[middle].cursor))
        assert [r.message for r in rest] == messages[middle + 1 :]
        followed = list(orchestrator.iter_logs(sub.job_id, follow=True))  # ends: the run has finished
        assert [r.message for r in followed] == messages

    # -- re-attach -----------------------------------------------------------------------------
    def test_a_fresh_process_can_reattach(self, contract_env: ContractEnv, orchestrator: RemoteOrchestrator) -> None:
        """Another Python process finds the run through the run registry (``flowyml.attach``) and reads
        its status; ``process_env`` gives it what the config reads from the environment."""
        sub = orchestrator.run_pipeline(pipelines.slow, run_id=_uid("attach"), context={"seconds": 60})
        try:
            here = orchestrator.get_run_status(sub.run_id)
            code = (
                f"import json, flowyml; r = flowyml.attach({sub.run_id!r}); "
                "print(json.dumps({'job_id': r.job_id, 'status': r.status().value}))"
            )
            env = {**os.environ, **contract_env.process_env}
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
            assert proc.returncode == 0, proc.stderr
            doc = json.loads(proc.stdout.strip().splitlines()[-1])
            assert doc["job_id"] == sub.job_id
            assert doc["status"] in {here.value, ExecutionStatus.RUNNING.value}
        finally:
            orchestrator.stop_run(sub.job_id)

    # -- states --------------------------------------------------------------------------------
    def test_every_native_state_maps_as_the_table_says(
        self, contract_env: ContractEnv, orchestrator: RemoteOrchestrator
    ) -> None:
        """Each state of ``Backend.native_states``, forced on the fake with ``set_native_state``, reads as
        the table says."""
        if contract_env.set_native_state is None:
            pytest.skip("the fixture cannot force native states (ContractEnv.set_native_state is None)")
        info = get_plugin_manager().backend(contract_env.backend)
        runs: dict[int, SubmissionResult] = {}
        for native, expected in info.native_states.items():
            pipeline = contract_env.state_pipeline(native) if contract_env.state_pipeline else pipelines.two_units
            if id(pipeline) not in runs:
                runs[id(pipeline)] = orchestrator.run_pipeline(pipeline, run_id=_uid("states"))
            sub = runs[id(pipeline)]
            contract_env.set_native_state(sub.handle, native)
            assert orchestrator.get_run_status(sub.job_id) is expected, f"native state {native!r}"

    # -- transient faults ----------------------------------------------------------------------
    @pytest.mark.parametrize("operation", ["submit", "status", "cancel", "logs"])
    def test_transient_faults_are_retried_and_never_reported_failed(
        self, contract_env: ContractEnv, orchestrator: RemoteOrchestrator, operation: str
    ) -> None:
        """Two transient failures of each operation's service calls are retried, and the answer
        is right (never FAILED); failures that outlast the retries raise TransientBackendError.
        With core's fault injection (no ``inject_faults`` knob) the faults must also have been
        spent: an operation whose calls bypass ``call_with_retry`` fails here."""
        inject = self.faults(contract_env)
        run_id = _uid(f"fault-{operation}")
        if operation == "submit":
            with inject("submit", 2):
                sub = orchestrator.run_pipeline(pipelines.two_units, run_id=run_id)
                if contract_env.inject_faults is None:
                    assert faults_left("submit") == 0, "submit made no call through flowyml.plugins.retry"
            if contract_env.count_creates is not None:
                again = orchestrator.run_pipeline(pipelines.two_units, run_id=run_id)
                assert again.job_id == sub.job_id
            assert orchestrator.get_run_status(sub.job_id) is not ExecutionStatus.FAILED
            return
        sub = orchestrator.run_pipeline(pipelines.two_units, run_id=run_id)

        def consumed(op: str) -> None:  # core's injection: the faults were spent, so the calls went through it
            if contract_env.inject_faults is None:
                assert faults_left(op) == 0, f"{op} made no call through flowyml.plugins.retry.call_with_retry"

        if operation == "status":
            with inject("status", 2):
                assert orchestrator.get_run_status(sub.job_id) is not ExecutionStatus.FAILED
                consumed("status")
            with inject("status", 1000), pytest.raises(TransientBackendError):
                orchestrator.get_run_status(sub.job_id)
        elif operation == "cancel":
            with inject("cancel", 2):
                orchestrator.stop_run(sub.job_id)
                consumed("cancel")
            assert orchestrator.get_run_status(sub.job_id) in {ExecutionStatus.STOPPING, ExecutionStatus.CANCELLED}
        else:
            if self.run_to_end(contract_env, sub) is not ExecutionStatus.COMPLETED:
                pytest.fail("the run did not complete")
            expected = [r.message for r in orchestrator.iter_logs(sub.job_id)]
            with inject("logs", 2):
                assert [r.message for r in orchestrator.iter_logs(sub.job_id)] == expected
                consumed("logs")

    def test_a_lost_create_answer_does_not_make_a_second_job(
        self, contract_env: ContractEnv, orchestrator: RemoteOrchestrator
    ) -> None:
        """A create the service performed but whose answer was lost (``lose_create_answers``) is found,
        not made again: the run has as many creates as a clean run (``count_creates``)."""
        if contract_env.lose_create_answers is None or contract_env.count_creates is None:
            pytest.skip("the fixture cannot lose create answers (ContractEnv.lose_create_answers is None)")
        run_id = _uid("lost")
        with contract_env.lose_create_answers(1):
            try:
                sub = orchestrator.run_pipeline(pipelines.two_units, run_id=run_id)
            except TransientBackendError:  # the submit may give up: a retry must then find the job
                sub = orchestrator.run_pipeline(pipelines.two_units, run_id=run_id)
        again = orchestrator.run_pipeline(pipelines.two_units, run_id=run_id)
        assert again.job_id == sub.job_id
        clean = orchestrator.run_pipeline(pipelines.two_units, run_id=_uid("clean"))
        assert contract_env.count_creates(sub.handle) == contract_env.count_creates(clean.handle), (
            "a create whose answer was lost was made again"
        )

    # -- details and secrets -------------------------------------------------------------------
    def test_details_describe_the_run_without_secrets(
        self, contract_env: ContractEnv, orchestrator: RemoteOrchestrator
    ) -> None:
        """``get_run_details`` names the run and job ids, and no secret config value appears in it, in the
        run registry or in ``to_dict()``."""
        sub = orchestrator.run_pipeline(pipelines.two_units, run_id=_uid("details"))
        details = orchestrator.get_run_details(sub.job_id)
        text = json.dumps(details, default=str)
        assert details["run_id"] == sub.run_id and details["job_id"] == sub.job_id
        secrets = [
            getattr(contract_env.config, f.name)
            for f in attrs.fields(type(contract_env.config))
            if f.metadata.get("secret")
            and isinstance(getattr(contract_env.config, f.name), str)
            and getattr(contract_env.config, f.name)
        ]
        stored = orchestrator.registry.get(sub.run_id).handle.to_json()
        for secret in secrets:
            assert secret not in text, "a secret config value appears in get_run_details()"
            assert secret not in stored, "a secret config value was stored in the run registry"
            assert secret not in json.dumps(orchestrator.to_dict(), default=str), "a secret appears in to_dict()"

    def test_following_logs_of_a_running_run_ends_when_it_ends(
        self, contract_env: ContractEnv, orchestrator: RemoteOrchestrator
    ) -> None:
        """Following the logs of a run while it executes ends when the run ends and holds the last unit's
        lines: core reads once more after the end, and the backend's pass returns what was written last."""
        if contract_env.execute is None and not contract_env.self_executing:
            pytest.skip("the fixture cannot execute submitted jobs (ContractEnv.execute is None)")
        import threading

        sub = orchestrator.run_pipeline(pipelines.two_units, run_id=_uid("follow"))
        worker = None
        if contract_env.execute is not None:
            worker = threading.Thread(target=contract_env.execute, args=(sub.handle,), daemon=True)
            worker.start()
        messages = [r.message for r in orchestrator.iter_logs(sub.job_id, follow=True, poll_interval=0.1)]
        if worker is not None:
            worker.join(contract_env.finish_timeout)
        assert orchestrator.get_run_status(sub.job_id).is_finished
        assert any("making 5 numbers" in m for m in messages), messages
        assert any("summing 5 values" in m for m in messages), messages  # the last unit's lines too

    # -- artifacts -----------------------------------------------------------------------------
    def test_artifacts_round_trip_and_are_never_read_half_written(self, contract_env: ContractEnv) -> None:
        """Through ``ArtifactStore`` on the backend's store: a value round-trips by URI and key,
        create-only writes never replace, ``list_keys`` finds the object, tampered data raises
        ``ArtifactCorruptError``, a missing key ``ArtifactNotFoundError``, and 6 MiB round-trips."""
        store = ArtifactStore(contract_env.artifact_root, contract_env.store_settings)
        key = f"conformance/{uuid.uuid4().hex[:8]}"
        value = {"weights": [0.5, 1.5], "name": "model"}
        uri = store.save(value, key)
        assert uri.startswith(store.uri)
        assert store.load(uri) == value
        assert store.load(key) == value
        storage = store.storage
        assert storage.write_bytes(f"{key}/probe", b"first", create_only=True) is True
        assert storage.write_bytes(f"{key}/probe", b"second", create_only=True) is False
        assert storage.read_bytes(f"{key}/probe") == b"first"
        assert f"{key}/probe" in storage.list_keys(key)
        manifest = store.manifest(key)
        storage.write_bytes(f"{key}/{manifest['data']}", b"tampered")
        with pytest.raises(ArtifactCorruptError):
            store.load(key)
        with pytest.raises(ArtifactNotFoundError):
            store.load(f"{key}-missing")
        big = os.urandom(6 * 1024 * 1024)
        assert store.load(store.save(big, f"{key}-big")) == big

    def test_the_backends_store_passes_the_storage_contract(self, contract_env: ContractEnv) -> None:
        """Streams, create-only, abort, key rules, ``list_keys`` at folder boundaries, corruption
        detection (:class:`flowyml.testing.StorageContract`) on the store the backend's runs use."""
        from flowyml.testing.storage import check_storage

        root = contract_env.artifact_root.rstrip("/")
        manager = get_plugin_manager()
        ran = check_storage(
            lambda: manager.storage(f"{root}/conformance-{uuid.uuid4().hex[:8]}", contract_env.store_settings),
            large_size=6 * 1024 * 1024,
        )
        assert ran, "the storage contract ran no check"
