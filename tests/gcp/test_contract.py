"""The vertex_ai backend passes flowyml's conformance kit against the fake Vertex AI server."""

from __future__ import annotations

from typing import Any

import pytest

from flowyml.orchestrators.base import RemoteOrchestrator
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
            inject_faults=lambda op, count: fake.faults_for(op, count, alternate_commit=op == "submit"),
            count_creates=lambda handle: fake.creates_for_run(run_key(handle.run_id)),
            finish_timeout=60,
        )

    def test_every_native_state_maps_as_the_table_says(
        self, contract_env: ContractEnv, orchestrator: RemoteOrchestrator
    ) -> None:
        """Vertex AI has two state vocabularies: JOB_STATE_* on a CustomJob (one-unit run) and
        PIPELINE_STATE_* on a PipelineJob (several units); each is forced on its own resource type."""
        from flowyml.plugins.manager import get_plugin_manager

        info = get_plugin_manager().backend("vertex_ai")
        single = orchestrator.run_pipeline(kit.slow, run_id="states-custom-job")
        dag = orchestrator.run_pipeline(kit.two_units, run_id="states-pipeline-job")
        for native, expected in info.native_states.items():
            sub = single if native.startswith("JOB_STATE_") else dag
            contract_env.set_native_state(sub.handle, native)
            assert orchestrator.get_run_status(sub.job_id) is expected, f"native state {native!r}"
