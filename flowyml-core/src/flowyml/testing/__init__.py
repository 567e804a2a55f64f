"""flowyml's test kit for backend plugins (ours and third parties').

* :class:`BackendContract` — the conformance suite; subclass it and provide ``contract_env``.
* :class:`ContractEnv` — what your fixture tells the suite about your fake.
* :class:`StorageContract` — the suite every artifact store passes (subclass it with a ``storage`` fixture).
* the pytest plugin :mod:`flowyml.testing.pytest_plugin` (``pytest_plugins = ["flowyml.testing.pytest_plugin"]``)
  adds ``flowyml_home`` (an isolated flowyml home) and ``no_egress`` (loopback-only network).

The suites need pytest (``pip install "./flowyml-core[testing]"``); they load on first use, so
``flowyml.testing.pipelines`` and ``flowyml.testing.egress`` import without it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowyml.testing.contract import BackendContract, ContractEnv
    from flowyml.testing.storage import StorageContract

__all__ = ["BackendContract", "ContractEnv", "StorageContract"]
_WHERE = {"BackendContract": "contract", "ContractEnv": "contract", "StorageContract": "storage"}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'flowyml.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(f"flowyml.testing.{_WHERE[name]}"), name)
