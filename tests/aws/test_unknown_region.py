"""A well-formed region AWS does not have (``us-nowhere-1``) fails at once, in one line, naming where it was set.

``flowyml run --stack`` runs in a subprocess under flowyml's egress guard (a ``sitecustomize`` on
its path): the DNS lookup of ``batch.us-nowhere-1.amazonaws.com`` fails inside the process, as an
unresolvable name does, and nothing leaves 127.0.0.1. A region botocore knows whose endpoint cannot
be reached the same way stays a transient outage (retried, exit 4), and an unknown region with an
endpoint of its own (here: moto) works.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.aws.fake_aws import REGION
from tests.cli_process import REPO, run_cli

pytestmark = pytest.mark.aws

BAD = "us-nowhere-1"
PIPELINE = "tests.aws.aws_pipelines:diamond"


@pytest.fixture(scope="module")
def guard_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``sitecustomize`` that installs flowyml's egress guard in the CLI's Python process."""
    d = tmp_path_factory.mktemp("egress-guard")
    (d / "sitecustomize.py").write_text("from flowyml.testing import egress\negress.install()\n")
    return d


def _env(tmp_path: Path, guard_dir: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(guard_dir), str(REPO)])}
    env.update(FLOWYML_HOME=str(tmp_path / "home"), **extra)
    env.pop("FLOWYML_CONFIG", None)
    return env


def _run(tmp_path: Path, env: dict[str, str], stack: dict, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "flowyml.yaml").write_text(yaml.safe_dump({"stacks": {"bad": stack}}))
    return run_cli("run", PIPELINE, "--stack", "bad", "--detach", *args, cwd=tmp_path, env=env)


def _stack(fake, artifact_root: str, orchestrator: dict, store: dict | None = None) -> dict:
    settings = store if store is not None else {"endpoint_url": fake.moto, "region": REGION}
    base = {"type": "aws_batch", "job_queue": "flowyml-queue", "job_definition": "flowyml-step"}
    return {"orchestrator": {**base, **orchestrator}, "artifact_store": {"uri": artifact_root, "settings": settings}}


def _one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr + proc.stdout and "botocore" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if BAD in line]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_the_guard_keeps_the_cli_process_off_the_network(tmp_path, guard_dir) -> None:
    """What makes the lookups below fail without a packet: the guarded process cannot resolve AWS names."""
    code = f"import socket; socket.getaddrinfo('batch.{BAD}.amazonaws.com', 443)"
    proc = subprocess.run(
        [sys.executable, "-c", code], env=_env(tmp_path, guard_dir), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0 and "egress blocked" in proc.stderr, proc.stderr


def test_an_unknown_orchestrator_region_fails_at_once_naming_the_key(fake, artifact_root, tmp_path, guard_dir) -> None:
    proc = _run(tmp_path, _env(tmp_path, guard_dir), _stack(fake, artifact_root, {"region": BAD}))
    assert proc.returncode == 2, proc.stdout + proc.stderr  # configuration (docs/cli.md), not "unreachable" (4)
    line = _one_line(proc)
    assert f"AWS region '{BAD}' (from orchestrator.region) is unknown to the installed AWS SDK for batch" in line, line
    assert f"batch.{BAD}.amazonaws.com cannot be reached" in line and "correct it to an AWS region" in line
    assert "transient error" not in proc.stderr and "retry" not in proc.stderr  # never retried
    assert line in (REPO / "docs" / "backends" / "aws.md").read_text(), "the page shows the line as printed"
    assert not fake.proxy.sent("SubmitJob")


def test_an_unknown_store_region_names_the_store_setting(fake, artifact_root, tmp_path, guard_dir) -> None:
    stack = _stack(fake, artifact_root, {"region": REGION, "endpoint_url": fake.proxy.endpoint}, {"region": BAD})
    proc = _run(tmp_path, _env(tmp_path, guard_dir), stack)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = _one_line(proc)
    assert (
        f"AWS region '{BAD}' (from artifact_store.settings.region, or orchestrator.region when the store sets none)"
        in line
        and "for s3" in line
    ), line
    assert "transient error" not in proc.stderr and not fake.proxy.sent("SubmitJob")


def test_an_unknown_region_from_the_environment_names_the_variable(fake, artifact_root, tmp_path, guard_dir) -> None:
    proc = _run(tmp_path, _env(tmp_path, guard_dir, AWS_REGION=BAD), _stack(fake, artifact_root, {}))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = _one_line(proc)
    assert f"AWS region '{BAD}' (from the environment variable AWS_REGION)" in line, line


def test_a_known_region_that_cannot_be_reached_is_still_an_outage(fake, artifact_root, tmp_path, guard_dir) -> None:
    proc = _run(tmp_path, _env(tmp_path, guard_dir), _stack(fake, artifact_root, {"region": "eu-west-1"}))
    assert proc.returncode == 4, proc.stdout + proc.stderr  # retried, then "could not be reached"
    assert "transient error" in proc.stderr and "batch.eu-west-1.amazonaws.com" in proc.stderr
    assert "unknown to the installed AWS SDK" not in proc.stderr


def _serve_region_as_moto_does(fake, region: str) -> None:
    """moto answers only regions it knows (a 500 for others): the proxy signs ``region``'s requests over to
    us-east-1 (moto checks no signature), as if the region existed at the endpoint."""
    from tests.aws.fault_proxy import norm

    actions = ["DescribeJobDefinitions", "ListJobs", "SubmitJob", "DescribeJobs", "TagResource"]
    for action in actions:
        inner = fake.proxy.rules.get(norm(action))

        def rule(req, forward, inner=inner):
            auth = req.headers.get("authorization", "")
            req.headers["authorization"] = auth.replace(f"/{region}/", f"/{REGION}/")
            return inner(req, forward) if inner else forward()

        fake.proxy.add_rule(action, rule)


def test_an_unknown_region_with_an_endpoint_of_its_own_works(fake, artifact_root, tmp_path, guard_dir) -> None:
    """Only a failure is judged: a region the SDK does not know that answers is used as any other."""
    _serve_region_as_moto_does(fake, BAD)
    stack = _stack(fake, artifact_root, {"region": BAD, "endpoint_url": fake.proxy.endpoint})
    proc = _run(tmp_path, _env(tmp_path, guard_dir), stack, "--run-id", "nowhere-ok")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    submitted = [c.json()["jobName"] for c in fake.proxy.sent("SubmitJob", injected=False)]
    assert len([n for n in submitted if n.startswith("flowyml-nowhere-ok-")]) == 4, submitted
    env = {e["name"]: e["value"] for e in fake.proxy.sent("SubmitJob")[0].json()["containerOverrides"]["environment"]}
    assert env["AWS_REGION"] == BAD


def test_an_unknown_region_whose_own_endpoint_is_down_is_an_outage(fake, artifact_root, tmp_path, guard_dir) -> None:
    """An endpoint that was configured is never judged by the region's name: unreachable, it is retried."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    proc = _run(
        tmp_path, _env(tmp_path, guard_dir), _stack(fake, artifact_root, {"region": BAD, "endpoint_url": closed})
    )
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "transient error" in proc.stderr and "unknown to the installed AWS SDK" not in proc.stderr
