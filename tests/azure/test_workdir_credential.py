"""Issue 12 item 7: the step-runner puts the job's working directory on ``sys.path`` before it opens
the artifact store, so a ``credential: module:factory`` that lives in the image's ``WORKDIR`` (the
documented Dockerfile copies the project there) is importable when the store opens."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import az_pipelines
import pytest
from azfake_server import FakeAzureML
from azhelpers import orchestrator

from flowyml.core.status import ExecutionStatus as S
from flowyml_azure.config import AzureMLConfig

pytestmark = pytest.mark.azure

FACTORY = textwrap.dedent(
    """
    from pathlib import Path


    def factory():
        from azure.identity import ManagedIdentityCredential

        Path("imgcred.used").write_text("yes")
        return ManagedIdentityCredential()
    """
)


def test_a_credential_factory_in_the_jobs_workdir_opens_the_store(
    fake: FakeAzureML, config: AzureMLConfig, platform_store: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    root, settings = platform_store
    workdir = tmp_path / "app"  # the image's WORKDIR: not on PYTHONPATH, only the job's cwd
    workdir.mkdir()
    (workdir / "imgcred.py").write_text(FACTORY)
    fake.job_cwd = workdir
    orch = orchestrator(config, root, {**settings, "credential": "imgcred:factory"})
    sub = orch.run_pipeline(az_pipelines.three_units, run_id="workdir-cred")
    fake.execute(sub.job_id)
    assert all(e["code"] == 0 for e in fake.executions), orch.get_run_logs(sub.job_id)
    assert orch.get_run_status(sub.job_id) is S.COMPLETED
    assert sub.get_output("score") == (0 + 10 + 20 + 30) + 4
    assert (workdir / "imgcred.used").read_text() == "yes", "the jobs did not open the store with the factory"
    for e in fake.executions:
        assert json.loads(e["env"]["FLOWYML_STORE_SETTINGS"])["credential"] == "imgcred:factory"
