"""The flowyml conformance kit against both AWS backends (moto + the fault proxy).

Transient faults come from core's ``inject_faults`` (every SDK call goes through
``call_with_retry``); the throttling the proxy answers at the HTTP boundary is tested in
test_batch.py / test_sagemaker.py.
"""

from __future__ import annotations

import attrs
import pytest

from flowyml.testing import BackendContract, ContractEnv
from flowyml.testing import pipelines as kit

pytestmark = pytest.mark.aws
#: a secret config value (moto accepts any key): the kit checks it never reaches details or the registry
SECRET = "flowyml-contract-secret-0123456789"


def _env(backend: str, config, fake, artifact_root: str, store_settings: dict) -> ContractEnv:
    return ContractEnv(
        backend=backend,
        config=config,
        artifact_root=artifact_root,
        store_settings=store_settings,
        execute=fake.execute,
        settle=fake.settle,
        set_native_state=fake.set_state,
        count_creates=fake.count_creates,
        lose_create_answers=fake.lose_create_answers,
        finish_timeout=90.0,
    )


class TestAWSBatchContract(BackendContract):
    @pytest.fixture
    def contract_env(self, fake, batch_config, artifact_root, store_settings) -> ContractEnv:
        batch_config = attrs.evolve(batch_config, aws_access_key_id="testing", aws_secret_access_key=SECRET)
        return _env("aws_batch", batch_config, fake, artifact_root, store_settings)


class TestSageMakerContract(BackendContract):
    @pytest.fixture
    def contract_env(self, fake, sagemaker_config, artifact_root, store_settings) -> ContractEnv:
        sagemaker_config = attrs.evolve(sagemaker_config, aws_access_key_id="testing", aws_secret_access_key=SECRET)
        env = _env("sagemaker", sagemaker_config, fake, artifact_root, store_settings)
        # training-job states belong to single-unit runs, Pipeline/* states to multi-unit runs
        env.state_pipeline = lambda native: kit.two_units if native.startswith("Pipeline/") else kit.slow
        return env
