"""aws_batch submit rules, end to end against moto: barriers past 20 dependencies, resources per
platform, docker.image as a job-definition revision, and the region reaching jobs and the store."""

from __future__ import annotations

import pytest

from flowyml.core.errors import ConfigError, RefusedError
from flowyml.core.resources import DockerConfig, ResourceConfig
from flowyml.core.status import ExecutionStatus as S
from flowyml.testing import pipelines as kit
from tests.aws.aws_pipelines import WIDE, wide
from tests.aws.fake_aws import direct_client

pytestmark = pytest.mark.aws
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/flowyml:2"


def _orch(batch_config, artifact_root, store_settings, **kwargs):
    from flowyml.stacks.aws import AWSBatchOrchestrator

    return AWSBatchOrchestrator(
        job_queue=batch_config.job_queue,
        job_definition=kwargs.pop("job_definition", batch_config.job_definition),
        endpoint_url=batch_config.endpoint_url,
        region=kwargs.pop("region", batch_config.region),
        artifact_store=artifact_root,
        store_settings=kwargs.pop("store_settings", store_settings),
        **kwargs,
    )


def _sent(fake) -> list[dict]:
    return [c.json() for c in fake.proxy.sent("SubmitJob", injected=False)]


def test_a_unit_with_21_upstream_units_waits_on_barrier_jobs_and_runs(
    fake, batch_config, artifact_root, store_settings
) -> None:
    orch = _orch(batch_config, artifact_root, store_settings)
    sub = orch.run_pipeline(wide, run_id="wide-1")
    sent = _sent(fake)
    assert all(len(body.get("dependsOn", [])) <= 20 for body in sent)  # AWS's limit, which moto does not enforce
    barriers = sub.handle.metadata["barriers"]["gather"]
    assert len(barriers) == 2 and len(sent) == WIDE + 1 + 2
    by_id = {jid: body for jid, body in zip(fake.batch_requests, fake.batch_requests.values(), strict=True)}
    upstream = {sub.handle.units[f"part{i}"] for i in range(WIDE)}
    waited = [d["jobId"] for b in barriers for d in by_id[b]["dependsOn"]]
    assert sorted(waited) == sorted(upstream)  # every upstream unit, each once
    assert [d["jobId"] for d in by_id[sub.handle.units["gather"]]["dependsOn"]] == barriers
    assert set(sub.handle.units) == {*(f"part{i}" for i in range(WIDE)), "gather"}  # barriers are not units
    again = orch.run_pipeline(wide, run_id="wide-1")  # idempotent: the barriers are found, not re-made
    assert again.handle.metadata["barriers"] == sub.handle.metadata["barriers"] and len(_sent(fake)) == len(sent)
    fake.execute(sub.handle)
    assert sub.wait_for_completion(timeout=120, poll_interval=0.1) is S.COMPLETED
    assert sub.get_output("total") == sum(range(WIDE))
    assert set(orch.get_status_report(sub.run_id).units) == set(sub.handle.units)


def test_cancel_reaches_the_barrier_jobs_too(fake, batch_config, artifact_root, store_settings) -> None:
    orch = _orch(batch_config, artifact_root, store_settings)
    sub = orch.run_pipeline(wide, run_id="wide-cancel")
    orch.stop_run(sub.run_id)
    cancelled = {c.json()["jobId"] for c in fake.proxy.sent("CancelJob")}
    assert set(sub.handle.metadata["barriers"]["gather"]) <= cancelled
    assert orch.get_run_status(sub.run_id) is S.CANCELLED


def _fargate_definition(fake) -> str:
    direct_client("batch", fake.moto).register_job_definition(
        jobDefinitionName="flowyml-fargate",
        type="container",
        platformCapabilities=["FARGATE"],
        containerProperties={
            "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/flowyml:1",
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}],
            "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        },
    )
    return "flowyml-fargate"


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        (ResourceConfig(cpu="1", memory="2Gi", gpu_count=1), "Fargate has none"),
        (ResourceConfig(cpu="0.5", memory="512Mi"), r"with 0.5 vCPU use 1024-4096 MiB in steps of 1024"),
        (ResourceConfig(cpu="3", memory="8Gi"), "3 vCPU, which Fargate does not offer"),
        (ResourceConfig(cpu="2"), r"2048 MiB with 2 vCPU"),  # the job definition's memory with the unit's cpu
    ],
)
def test_fargate_resources_are_checked_before_any_job_is_created(
    fake, batch_config, artifact_root, store_settings, resources: ResourceConfig, message: str
) -> None:
    orch = _orch(batch_config, artifact_root, store_settings, job_definition=_fargate_definition(fake))
    with pytest.raises(ConfigError, match=message) as info:
        orch.run_pipeline(kit.two_units, run_id="fargate-bad", resources=resources)
    assert "unit 'prep'" in str(info.value)
    assert _sent(fake) == []


def test_fargate_accepts_a_size_it_offers(fake, batch_config, artifact_root, store_settings) -> None:
    orch = _orch(batch_config, artifact_root, store_settings, job_definition=_fargate_definition(fake))
    orch.run_pipeline(kit.two_units, run_id="fargate-ok", resources=ResourceConfig(cpu="0.5", memory="1Gi"))
    assert [r["containerOverrides"]["resourceRequirements"] for r in _sent(fake)] == [
        [{"type": "VCPU", "value": "0.5"}, {"type": "MEMORY", "value": "1024"}]
    ] * 2
    assert {r["jobDefinition"] for r in _sent(fake)} == {"flowyml-fargate:1"}


def test_ec2_takes_whole_vcpus_only(fake, batch_config, artifact_root, store_settings) -> None:
    orch = _orch(batch_config, artifact_root, store_settings)
    with pytest.raises(
        ConfigError, match=r"unit 'prep' asks for 0.5 vCPU; on EC2, Batch takes whole vCPUs, at least 1"
    ):
        orch.run_pipeline(kit.two_units, run_id="ec2-bad", resources=ResourceConfig(cpu="0.5"))
    assert _sent(fake) == []


def test_docker_image_runs_as_a_job_definition_revision_with_that_image(
    fake, batch_config, artifact_root, store_settings
) -> None:
    orch = _orch(batch_config, artifact_root, store_settings, docker_config=DockerConfig(image=IMAGE))
    orch.run_pipeline(kit.two_units, run_id="image-1")
    orch.run_pipeline(kit.two_units, run_id="image-2")
    assert len(fake.proxy.sent("RegisterJobDefinition")) == 1  # one revision per image, then reused
    assert {r["jobDefinition"] for r in _sent(fake)} == {"flowyml-step:2"}
    docs = fake.batch.describe_job_definitions(jobDefinitionName="flowyml-step")["jobDefinitions"]
    original, revision = sorted(docs, key=lambda d: d["revision"])
    assert revision["containerProperties"]["image"] == IMAGE
    assert (
        revision["containerProperties"]["resourceRequirements"]
        == original["containerProperties"]["resourceRequirements"]
    )


def test_the_region_reaches_every_job_and_the_store_without_env(
    fake, batch_config, artifact_root, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's aws-prod stack: region on the orchestrator only, none in the store settings or
    the environment. The fake's containers inherit no AWS region either (as on EC2)."""
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    orch = _orch(batch_config, artifact_root, {"endpoint_url": fake.moto}, region="us-east-1")
    assert orch.store_settings["region"] == "us-east-1"
    sub = orch.run_pipeline(kit.two_units, run_id="region-1")
    for body in _sent(fake):
        env = {e["name"]: e["value"] for e in body["containerOverrides"]["environment"]}
        assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    fake.execute(sub.handle)
    assert sub.wait_for_completion(timeout=90, poll_interval=0.1) is S.COMPLETED
    assert sub.get_output("total") == 3 * sum(range(5))


def test_no_region_anywhere_is_one_clear_error_before_any_job(
    fake, batch_config, artifact_root, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowyml_aws import client

    monkeypatch.delenv("AWS_DEFAULT_REGION")
    client.CLIENTS.clear()
    orch = _orch(batch_config, artifact_root, {"endpoint_url": fake.moto}, region=None)
    with pytest.raises(ConfigError, match="no AWS region"):
        orch.run_pipeline(kit.two_units, run_id="region-none")
    assert _sent(fake) == []


def test_a_region_from_the_environment_is_used_when_the_config_sets_none(
    fake, batch_config, artifact_root, store_settings
) -> None:
    orch = _orch(batch_config, artifact_root, store_settings, region=None)
    assert orch.config.region is None
    sub = orch.run_pipeline(kit.two_units, run_id="region-env")
    env = {e["name"]: e["value"] for e in _sent(fake)[0]["containerOverrides"]["environment"]}
    assert env["AWS_REGION"] == "us-east-1"  # boto3's chain: AWS_DEFAULT_REGION
    assert orch.get_run_details(sub.run_id)["region"] == "us-east-1"


@pytest.mark.parametrize("form", ["file", "plain path"])
def test_a_local_artifact_store_is_refused_unless_it_is_a_shared_mount(fake, batch_config, tmp_path, form) -> None:
    """Jobs run on AWS machines: a file:// store on the submitting machine would fail in the container.
    A plain path is a file:// store (it used to fail every submission with `invalid artifact key`)."""
    local = tmp_path / "artifacts"
    where = local.as_uri() if form == "file" else str(local)
    orch = _orch(batch_config, where, {})
    with pytest.raises(ConfigError, match=r"aws_batch backend runs jobs on other machines.*shared: \"true\""):
        orch.run_pipeline(kit.two_units, run_id="local-store")
    assert _sent(fake) == [] and not local.exists()  # refused before the spec or any job was written
    shared = _orch(batch_config, where, {"shared": "true"})  # e.g. EFS mounted by every job
    sub = shared.run_pipeline(kit.two_units, run_id="shared-store")
    assert len(_sent(fake)) == 2 and (local / "runs" / "shared-store" / "job.json").exists()
    fake.execute(sub.handle)
    assert sub.wait_for_completion(timeout=90, poll_interval=0.1) is S.COMPLETED
    assert sub.get_output("total") == 3 * sum(range(5))


def test_no_artifact_store_is_refused_too(fake, batch_config, monkeypatch, tmp_path) -> None:
    """No store defaults to $FLOWYML_HOME/artifacts on this machine: refused like any file:// store."""
    from flowyml.stacks.aws import AWSBatchOrchestrator

    monkeypatch.setenv("FLOWYML_HOME", str(tmp_path / "home"))
    orch = AWSBatchOrchestrator(
        job_queue=batch_config.job_queue,
        job_definition=batch_config.job_definition,
        endpoint_url=batch_config.endpoint_url,
        region=batch_config.region,
    )
    with pytest.raises(ConfigError, match=r"cannot read the local artifact store file://.*/home/artifacts"):
        orch.run_pipeline(kit.two_units, run_id="no-store")
    assert _sent(fake) == []


def test_a_pinned_job_definition_revision_is_used_as_given(fake, batch_config, artifact_root, store_settings) -> None:
    fake.batch.register_job_definition(  # revision 2: the pinned revision 1 must still be what runs
        jobDefinitionName="flowyml-step",
        type="container",
        containerProperties={
            "image": IMAGE,
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}],
        },
    )
    pinned = _orch(batch_config, artifact_root, store_settings, job_definition="flowyml-step:1")
    pinned.run_pipeline(kit.two_units, run_id="pinned-1")
    assert {r["jobDefinition"] for r in _sent(fake)} == {"flowyml-step:1"}
    with pytest.raises(RefusedError, match=r"job definition flowyml-step:7 does not exist"):
        _orch(batch_config, artifact_root, store_settings, job_definition="flowyml-step:7").run_pipeline(
            kit.two_units, run_id="pinned-7"
        )
    imaged = _orch(
        batch_config,
        artifact_root,
        store_settings,
        job_definition="flowyml-step:1",
        docker_config=DockerConfig(image=IMAGE),
    )
    imaged.run_pipeline(kit.two_units, run_id="pinned-image")  # revision 2 already runs IMAGE: reused, none registered
    assert fake.proxy.sent("RegisterJobDefinition") == []
    assert _sent(fake)[-1]["jobDefinition"] == "flowyml-step:2"


def test_a_malformed_region_is_one_error_naming_where_it_was_written(
    fake, batch_config, artifact_root, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """botocore refuses such a name only when a client is built (an SDK error after the spec was written)."""
    from flowyml.config.loader import load_config
    from flowyml_aws import client

    path = tmp_path / "flowyml.yaml"
    path.write_text(
        "stacks:\n  p:\n    orchestrator: {type: aws_batch, region: eu_west_1, job_queue: q, job_definition: d}\n"
        "    artifact_store: {uri: 's3://b/x'}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(
        f"{path}: stacks.p.orchestrator.region: expected an AWS region name such as eu-west-1, found 'eu_west_1'"
    )
    store = {"endpoint_url": fake.moto, "region": "eu west 1"}
    with pytest.raises(ConfigError, match=r"artifact_store.settings.region: expected an AWS region name"):
        _orch(batch_config, artifact_root, store).run_pipeline(kit.two_units, run_id="bad-store-region")
    monkeypatch.setenv("AWS_REGION", "eu_west_1")  # from the environment: checked when the client is built
    client.CLIENTS.clear()
    with pytest.raises(ConfigError, match=r"'eu_west_1' is not an AWS region name: set `region:`"):
        _orch(batch_config, artifact_root, {"endpoint_url": fake.moto}, region=None).run_pipeline(
            kit.two_units, run_id="bad-env-region"
        )
    client.CLIENTS.clear()
    assert _sent(fake) == []


def test_with_no_region_set_the_profiles_region_is_used(
    fake, batch_config, artifact_root, store_settings, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """boto3's chain: the profile's `region` when neither the config nor the environment sets one."""
    from flowyml_aws import client

    profile = tmp_path / "aws-config"
    profile.write_text(
        "[profile team]\nregion = eu-central-1\naws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(profile))
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    client.CLIENTS.clear()
    try:
        orch = _orch(batch_config, artifact_root, store_settings, region=None, profile="team")
        with pytest.raises(RefusedError, match=r"no ACTIVE revision in eu-central-1"):  # moto's queue is in us-east-1
            orch.run_pipeline(kit.two_units, run_id="profile-region")
    finally:
        client.CLIENTS.clear()
    assert _sent(fake) == []
