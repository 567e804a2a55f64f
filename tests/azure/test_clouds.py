"""Sovereign and custom clouds: the configured cloud is in effect for every SDK call, and the
user's ``os.environ`` is left as it was."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import attrs
import az_pipelines
import pytest
from azfake_server import FakeAzureML, _audience
from azhelpers import file_root, orchestrator

from flowyml.core.status import ExecutionStatus as S
from flowyml_azure.client import CLOUD_VARIABLE, cloud_name
from flowyml_azure.config import AzureMLConfig

pytestmark = pytest.mark.azure
AUDIENCE = "https://ml.sovereign.test"


def test_pipeline_submission_asks_for_the_clouds_own_audience(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path
) -> None:
    """azure-ai-ml reads the cloud again when it submits a pipeline (the x-azureml-token audience):
    with the public cloud's audience a sovereign cloud answers 401."""
    fake.aml_audience = AUDIENCE
    config = attrs.evolve(config, aml_audience=AUDIENCE + "/")
    orch = orchestrator(config, file_root(tmp_path))
    sub = orch.run_pipeline(az_pipelines.three_units, run_id="sovereign-1")
    put = fake.find("PUT", r"/jobs/sovereign-1$")[-1]
    assert put.status == 201 and _audience(put.headers["x-azureml-token"]) == AUDIENCE
    assert CLOUD_VARIABLE not in os.environ, "the cloud leaked into the user's environment"
    fake.execute(sub.job_id)
    assert sub.wait_for_completion(timeout=30, poll_interval=0.05) is S.COMPLETED
    assert CLOUD_VARIABLE not in os.environ


def test_the_users_own_cloud_setting_is_put_back(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CLOUD_VARIABLE, "AzureCloud")
    fake.aml_audience = AUDIENCE
    orch = orchestrator(attrs.evolve(config, aml_audience=AUDIENCE), file_root(tmp_path))
    sub = orch.run_pipeline(az_pipelines.three_units, run_id="sovereign-2")
    assert fake.find("PUT", r"/jobs/sovereign-2$")[-1].status == 201
    assert orch.get_run_status(sub.job_id) is S.PENDING
    assert os.environ[CLOUD_VARIABLE] == "AzureCloud"


def test_two_clouds_in_one_process_each_get_their_own(fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path) -> None:
    """Threads submitting to two custom clouds at once: every pipeline token has its cloud's audience."""
    other = FakeAzureML(tls=fake.tls).start()
    try:
        fake.aml_audience, other.aml_audience = AUDIENCE, "https://ml.other.test"
        first = attrs.evolve(config, aml_audience=AUDIENCE)
        second = attrs.evolve(config, arm_endpoint=other.base_url, aml_audience="https://ml.other.test")
        assert cloud_name(first) != cloud_name(second)
        errors: list[BaseException] = []

        orchestrators = [orchestrator(cfg, file_root(tmp_path)) for cfg in (first, second)]

        def submit(i: int, run_id: str) -> None:
            try:
                orchestrators[i].run_pipeline(az_pipelines.three_units, run_id=run_id)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=submit, args=(i, f"two-{i}-{n}")) for n in range(2) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        for server, audience, i in ((fake, AUDIENCE, 0), (other, "https://ml.other.test", 1)):
            puts = [r for r in server.find("PUT", rf"/jobs/two-{i}-\d$") if r.status == 201]
            assert len(puts) == 2 and {_audience(r.headers["x-azureml-token"]) for r in puts} == {audience}
        assert CLOUD_VARIABLE not in os.environ
    finally:
        other.close()


def test_jobs_built_in_many_threads_at_once_keep_their_own_nodes(config: AzureMLConfig, tmp_path: Path) -> None:
    """azure-ai-ml collects a pipeline's nodes on a process-wide stack: builds must not interleave."""
    from flowyml_azure.submit import build_command_job, build_pipeline_job

    orch = orchestrator(config, file_root(tmp_path))
    specs = [orch._job_spec(az_pipelines.three_units, f"many-{i}") for i in range(12)]
    single = orch._job_spec(az_pipelines.ticking, "many-single")
    built: dict[str, object] = {}
    start = threading.Barrier(13)

    def build(spec) -> None:
        start.wait()
        for _ in range(3):
            if len(spec.units) == 1:
                built[spec.run_id] = build_command_job(spec, config, spec.run_id)
            else:
                built[spec.run_id] = build_pipeline_job(spec, config, spec.run_id)

    threads = [threading.Thread(target=build, args=(s,)) for s in [*specs, single]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for spec in specs:
        nodes = built[spec.run_id].jobs  # type: ignore[attr-defined]
        assert set(nodes) == {"prepare", "train", "evaluate"}, (spec.run_id, sorted(nodes))
        assert all(f"/{spec.run_id}/" in n.command for n in nodes.values()), spec.run_id


def test_pipelines_submitted_and_polled_from_many_threads_at_once(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path
) -> None:
    """Serializing a pipeline job (the create's body) while another thread builds one fails inside
    azure-ai-ml ("NodeOutput is not supported for operation bool()"): builds exclude serializations."""
    orch = orchestrator(config, file_root(tmp_path))
    first = orch.run_pipeline(az_pipelines.three_units, run_id="crowd-first")
    errors: list[BaseException] = []
    start = threading.Barrier(12)

    def submit(i: int) -> None:
        try:
            start.wait()
            for n in range(2):
                orch.run_pipeline(az_pipelines.three_units, run_id=f"crowd-{i}-{n}")
                orch.get_status_report(first.job_id)  # reading a pipeline job while others build
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not errors, errors[:3]
    created = {r.path.rsplit("/", 1)[-1] for r in fake.find("PUT", r"/jobs/crowd-\d+-\d$") if r.status == 201}
    assert len(created) == 24
