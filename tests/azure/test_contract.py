"""The azureml backend passes flowyml's conformance kit against the fake Azure ML and Azurite."""

from __future__ import annotations

import pytest
from azfake_knobs import count_creates, lose_creates, process_env
from azfake_server import FakeAzureML

from flowyml.testing import BackendContract, ContractEnv
from flowyml_azure.config import AzureMLConfig

pytestmark = pytest.mark.azure


class TestAzureMLContract(BackendContract):
    @pytest.fixture
    def contract_env(
        self, fake: FakeAzureML, config: AzureMLConfig, platform_store: tuple[str, dict[str, str]]
    ) -> ContractEnv:
        root, settings = platform_store
        return ContractEnv(
            backend="azureml",
            config=config,
            artifact_root=root,
            store_settings=settings,
            execute=lambda handle: fake.execute(handle.job_id),
            settle=lambda handle: fake.settle(handle.job_id),
            set_native_state=lambda handle, state: fake.set_state(handle.job_id, state),
            count_creates=lambda handle: count_creates(fake, handle),
            lose_create_answers=lambda count: lose_creates(fake, count),
            process_env=process_env(),
            finish_timeout=60,
        )
