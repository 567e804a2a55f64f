"""flowyml's test kit for backend plugins (ours and third parties').

* :class:`BackendContract` — the conformance suite; subclass it and provide ``contract_env``.
* :class:`ContractEnv` — what your fixture tells the suite about your fake.
* :class:`StorageContract` — the suite every artifact store passes (subclass it with a ``storage`` fixture).
* the pytest plugin :mod:`flowyml.testing.pytest_plugin` (``pytest_plugins = ["flowyml.testing.pytest_plugin"]``)
  adds ``flowyml_home`` (an isolated flowyml home) and ``no_egress`` (loopback-only network).
"""

from flowyml.testing.contract import BackendContract, ContractEnv
from flowyml.testing.storage import StorageContract

__all__ = ["BackendContract", "ContractEnv", "StorageContract"]
