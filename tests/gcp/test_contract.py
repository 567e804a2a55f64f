"""The vertex_ai backend passes flowyml's conformance kit against the fake Vertex AI server."""

from __future__ import annotations

from typing import Any

import pytest

from flowyml.plugins.types import RunHandle
from flowyml.testing import BackendContract, ContractEnv
from flowyml.testing import pipelines as kit
from tests.gcp.conftest import IMAGE, REPO, exec_env


class TestVertexAIContract(BackendContract):
    @pytest.fixture
    def contract_env(self, fake: Any, config: Any, bucket: str, store_settings: dict[str, str]) -> ContractEnv:
        from flowyml_gcp.names import run_key

        def execute(handle: RunHandle) -> None:
            fake.execute(handle.job_id, env=exec_env(), cwd=str(REPO))

        return ContractEnv(
            backend="vertex_ai",
            config=config,
            artifact_root=f"gs://{bucket}/flowyml",
            store_settings=store_settings,
            image=IMAGE,
            execute=execute,
            set_native_state=lambda handle, state: fake.set_state(handle.job_id, state),
            # faults: core's flowyml.plugins.retry.inject_faults (every SDK call goes through call_with_retry)
            count_creates=lambda handle: fake.creates_for_run(run_key(handle.run_id)),
            lose_create_answers=lambda count: fake.faults_for("create", count, after_commit=True),
            # two state vocabularies: JOB_STATE_* on a CustomJob (one unit), PIPELINE_STATE_* on a PipelineJob
            state_pipeline=lambda native: kit.slow if native.startswith("JOB_STATE_") else kit.two_units,
            finish_timeout=60,
        )
