"""The conformance kit itself (issue 18, items 7 and 9): it documents what each test checks and
what each knob must achieve, and it cleans up runs a failing backend leaves behind."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import attrs

from flowyml.plugins.polling import poll_until
from flowyml.testing import BackendContract, ContractEnv
from tests.cli_process import run_cli

REPO = Path(__file__).resolve().parents[2]
TUTORIAL = REPO / "docs" / "plugins" / "tutorial.md"


def _kit_tests() -> list[str]:
    return sorted(name for name in dir(BackendContract) if name.startswith("test_"))


def test_every_kit_test_says_what_it_checks_and_the_guide_lists_it() -> None:
    guide = TUTORIAL.read_text()
    assert len(_kit_tests()) >= 15
    for name in _kit_tests():
        doc = inspect.getdoc(getattr(BackendContract, name)) or ""
        assert len(doc) > 40, f"BackendContract.{name} has no docstring saying what it checks"
        assert f"| `{name}` |" in guide, f"docs/plugins/tutorial.md's kit table does not list {name}"


def test_every_contract_env_field_says_what_it_must_achieve() -> None:
    doc = " ".join((ContractEnv.__doc__ or "").split())
    guide = TUTORIAL.read_text()
    for field in attrs.fields(ContractEnv):
        assert f"``{field.name}" in doc, f"ContractEnv's docstring does not describe {field.name}"
        assert f"`{field.name}" in guide, f"docs/plugins/tutorial.md does not mention ContractEnv.{field.name}"


LEAVES_A_RUN = """
import json, os
from pathlib import Path

import pytest

from flowyml.backends.local.plugin import LocalConfig
from flowyml.testing import BackendContract, ContractEnv, pipelines


class TestABackendThatFailsHalfWay(BackendContract):
    @pytest.fixture
    def contract_env(self, tmp_path):
        return ContractEnv(backend="local", config=LocalConfig(grace_period=1.0),
                           artifact_root=(tmp_path / "artifacts").as_uri(), self_executing=True, retried_calls=False)

    def test_a_check_that_fails_half_way(self, orchestrator):
        sub = orchestrator.run_pipeline(pipelines.slow, run_id="left-behind", context={"seconds": 300})
        Path(os.environ["KIT_OUT"]).write_text(json.dumps({"home": os.environ["FLOWYML_HOME"], "run": sub.run_id}))
        assert False, "the backend failed this check with its run still going"
"""


def test_the_kit_cancels_the_runs_a_failing_test_leaves_behind(tmp_path: Path) -> None:
    """A kit test that fails after submitting a long run (a failing backend) does not leave it
    running: the kit's ``orchestrator`` fixture stops every unfinished run of the backend."""
    (tmp_path / "test_leaves_a_run.py").write_text(textwrap.dedent(LEAVES_A_RUN))
    out = tmp_path / "kit.json"
    env = {**os.environ, "KIT_OUT": str(out), "PYTHONPATH": str(REPO)}
    inner = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "half_way", "test_leaves_a_run.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert inner.returncode == 1 and "1 failed" in inner.stdout, inner.stdout + inner.stderr
    seen = json.loads(out.read_text())
    env["FLOWYML_HOME"] = seen["home"]

    def status() -> str:
        proc = run_cli("status", seen["run"], "--json", env=env, timeout=60)
        return str(json.loads(proc.stdout)["status"]) if proc.stdout.strip() else proc.stderr

    # teardown asked for the cancel; the supervisor confirms it
    final = poll_until(status, lambda s: s == "CANCELLED", timeout=60, poll_interval=0.5, what="left-behind")
    assert final == "CANCELLED", f"the run a failing kit test left behind is {status()}"


def test_the_documented_unit_result_document_is_what_the_step_runner_writes(tmp_path: Path) -> None:
    """docs/plugins/hooks.md shows the unit-result document: its keys are the ones a real
    step-runner writes, and a unit that never started (its dependency failed) has none."""
    import re

    from flowyml.core.status import ExecutionStatus
    from flowyml.orchestrators import RemoteOrchestrator
    from flowyml.orchestrators.layout import RunLayout, UnitResult
    from flowyml.testing import pipelines

    text = (REPO / "docs" / "plugins" / "hooks.md").read_text()
    section = text.split("### The unit-result document", 1)[1]
    shown = json.loads(re.search(r"^```json\n(.*?)^```", section, re.M | re.S).group(1))
    assert UnitResult.from_dict(shown).to_dict() == shown

    orch = RemoteOrchestrator(backend="local", artifact_store=(tmp_path / "artifacts").as_uri())
    sub = orch.run_pipeline(pipelines.failing_chain, run_id="unit-doc")
    assert sub.wait_for_completion(timeout=60, poll_interval=0.1, raise_on_failure=False) is ExecutionStatus.FAILED
    store = orch._run_store(sub.handle)
    written = store.read_json(RunLayout("unit-doc").unit_result("explode"))
    assert set(written) == set(shown) and written["exit_code"] == 1 and "boom" in written["error"]
    assert {k for s in written["steps"] for k in s} == {k for s in shown["steps"] for k in s}
    assert RunLayout("unit-doc").unit_result("after_explode") not in store.storage.list_keys("runs/unit-doc")


BYPASSES_RETRY = """
import attrs
import pytest

from flowyml.core.status import ExecutionStatus
from flowyml.plugins import Backend, RunHandle, StatusReport
from flowyml.plugins.manager import get_plugin_manager
from flowyml.plugins.retry import call_with_retry
from flowyml.testing import BackendContract, ContractEnv


@attrs.define(frozen=True)
class MemConfig:
    retried: bool = True


class MemBackend(Backend):
    name = "mem"
    config_class = MemConfig
    native_states = {"RUNNING": ExecutionStatus.RUNNING, "DONE": ExecutionStatus.COMPLETED,
                     "BROKEN": ExecutionStatus.FAILED}

    def submit(self, spec, config):
        return RunHandle(backend=self.name, run_id=spec.run_id, job_id=spec.run_id)

    def status(self, handle, config):
        def ask():  # the service call
            return StatusReport(ExecutionStatus.RUNNING, native_state="RUNNING")
        return call_with_retry(ask, transient=lambda exc: False, what="mem status") if config.retried else ask()


@pytest.mark.parametrize("retried", [True, False])
class TestMem(BackendContract):
    @pytest.fixture
    def contract_env(self, tmp_path, retried):
        pm = get_plugin_manager()
        pm.register_backend(MemBackend(), name="mem-plugin")
        yield ContractEnv(backend="mem", config=MemConfig(retried), artifact_root=(tmp_path / "a").as_uri())
        pm.unregister("mem-plugin")
"""


def test_the_kit_fails_a_backend_whose_calls_bypass_cores_retry(tmp_path: Path) -> None:
    """With core's fault injection, the fault tests also check that the faults were spent: a
    backend that calls its service around ``call_with_retry`` fails instead of passing vacuously."""
    (tmp_path / "test_bypass.py").write_text(textwrap.dedent(BYPASSES_RETRY))
    inner = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "transient_faults and status"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = inner.stdout
    assert "1 failed, 1 passed" in out, out + inner.stderr
    assert (
        "FAILED test_bypass.py::TestMem::test_transient_faults_are_retried_and_never_reported_failed[status-False]"
        in out
    )
    assert "status made no call through flowyml.plugins.retry.call_with_retry" in out
