"""SDK errors reach users as typed flowyml errors of one line: AuthError (what to set), RefusedError."""

from __future__ import annotations

from pathlib import Path

import attrs
import az_pipelines
import pytest
from azfake_server import FakeAzureML
from azhelpers import file_root, orchestrator

from flowyml.cli.main import main as cli
from flowyml.core.errors import AuthError, RefusedError
from flowyml_azure.config import AzureMLConfig

pytestmark = pytest.mark.azure


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text, text
    return text


def test_a_403_is_an_auth_error_naming_the_role_and_the_cli_exits_5(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    orch = orchestrator(config, file_root(tmp_path))
    sub = orch.run_pipeline(az_pipelines.ticking, run_id="auth-403")
    with fake.faulted(fake.inject(403, 100, method="GET", path=r"/jobs/auth-403$")):
        with pytest.raises(AuthError) as info:
            orch.get_status_report(sub.job_id)
        assert "lacks permission" in _one_line(info.value) and "AzureML Data Scientist" in str(info.value)
        assert len(fake.find("GET", r"/jobs/auth-403$")) == 2, "a 403 is not retried"
        capsys.readouterr()
        assert cli(["status", "auth-403"]) == 5
    err = capsys.readouterr().err
    assert err.startswith("flowyml: the backend refused our credentials: ") and "lacks permission" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_401_says_which_credential_setting_to_change(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path
) -> None:
    orch = orchestrator(config, file_root(tmp_path))
    sub = orch.run_pipeline(az_pipelines.ticking, run_id="auth-401")
    with fake.faulted(fake.inject(401, 100, method="GET", path=r"/jobs/auth-401$")), pytest.raises(AuthError) as info:
        orch.get_run_status(sub.job_id)
    assert "HTTP 401" in _one_line(info.value) and "orchestrator.credential" in str(info.value)


def test_no_credential_at_all_is_an_auth_error_before_any_call(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in (
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "AZURE_USERNAME",
        "AZURE_PASSWORD",
    ):
        monkeypatch.delenv(var, raising=False)
    config = attrs.evolve(config, credential="environment")  # EnvironmentCredential: unavailable without AZURE_*
    with pytest.raises(AuthError) as info:
        orchestrator(config, file_root(tmp_path)).run_pipeline(az_pipelines.ticking, run_id="auth-none")
    text = _one_line(info.value)
    assert "no usable Azure credential" in text and "orchestrator.credential" in text
    assert not fake.find("PUT", r"/jobs/"), "nothing was created without a credential"


def test_a_400_on_submit_is_refused_not_retried(fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path) -> None:
    fault = fake.inject(400, 100, method="PUT", path=r"/jobs/bad-1$")
    with fake.faulted(fault), pytest.raises(RefusedError) as info:
        orchestrator(config, file_root(tmp_path)).run_pipeline(az_pipelines.ticking, run_id="bad-1")
    assert "HTTP 400" in _one_line(info.value) and not isinstance(info.value, AuthError)
    assert fault.hits == 1, "a refused request is not retried"


_STACK = """
stacks:
  azure:
    orchestrator: {{type: azureml, subscription_id: {sub}, resource_group: {rg}, workspace_name: {ws},
                   compute: cpu-cluster, credential: "{credential}", arm_endpoint: "{arm}", ca_bundle: "{ca}"}}
    artifact_store: {{uri: "{root}", settings: {{shared: "true"}}}}
    docker: {{image: ghcr.io/example/flowyml-runner:1.0}}
"""


def test_a_401_reaches_flowyml_run_and_status_as_one_line_and_exit_5(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path
) -> None:
    """Azure's 401 (azure-core raises ``ClientAuthenticationError``) on submit and on status: a
    CLI user gets exit 5 and one line saying which setting to change, never a traceback."""

    from azfake_knobs import process_env
    from azure.core.exceptions import ClientAuthenticationError

    from tests.cli_process import cli_env, run_cli

    root = file_root(tmp_path)
    (tmp_path / "flowyml.yaml").write_text(
        _STACK.format(
            sub=fake.subscription_id, rg=fake.resource_group, ws=fake.workspace, credential=config.credential,
            arm=fake.base_url, ca=fake.ca_file, root=root,
        )
    )  # fmt: skip
    env = cli_env(**process_env())

    def cli(*args: str) -> str:
        proc = run_cli(*args, cwd=tmp_path, env=env, timeout=180)
        assert proc.returncode == 5, proc.stdout + proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in proc.stdout + proc.stderr, proc.stderr
        assert lines[0].startswith("flowyml: the backend refused our credentials: ") and "HTTP 401" in lines[0]
        assert "orchestrator.credential" in lines[0]
        return lines[0]

    with fake.faulted(fake.inject(401, 100, path=r"/jobs/cli-401$")) as [fault]:
        line = cli("run", "az_pipelines:ticking", "--stack", "azure", "--detach", "--run-id", "cli-401")
    assert "submitting Azure ML job cli-401" in line and fault.hits >= 1 and "cli-401" not in fake.jobs

    orch = orchestrator(config, root)
    sub = orch.run_pipeline(az_pipelines.ticking, run_id="cli-401-status")
    with fake.faulted(fake.inject(401, 100, method="GET", path=r"/jobs/cli-401-status$")):
        with pytest.raises(AuthError) as info:  # the same answer in this process: the SDK's own exception
            orch.get_status_report(sub.job_id)
        assert isinstance(info.value.__cause__, ClientAuthenticationError), repr(info.value.__cause__)
        assert "cli-401-status" in cli("status", sub.run_id)


def test_a_refused_submission_has_nothing_to_cancel_and_says_so_in_one_line(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Core cancels a failed submission with its provisional handle (the run id only): aimed at
    the job name the run id gives (``v1-2-run-<hash>``), which does not exist, so nothing is stopped and nothing else is
    logged (a second stderr line under the CLI's one-line error)."""
    from flowyml.orchestrators.registry import RunRegistry

    fault = fake.inject(400, 100, method="PUT", path=r"/jobs/v1-2-run-[0-9a-f]{8}$")
    with fake.faulted(fault), caplog.at_level("WARNING"), pytest.raises(RefusedError):
        orchestrator(config, file_root(tmp_path)).run_pipeline(az_pipelines.ticking, run_id="v1.2-run")
    assert fault.hits == 1 and not fake.find("POST", r"/cancel")
    assert not [r for r in caplog.records if r.levelname == "WARNING"], caplog.text
    assert RunRegistry().get("v1.2-run").status.name == "FAILED"
