"""FlowyML's import path for the typed assets: ``from flowyml.assets import Dataset, Model, Metrics``.

The classes live in :mod:`flowyml.core.assets`; ``flowyml.assets.base`` / ``.dataset`` / ``.model``
/ ``.metrics`` name the same classes, as FlowyML's modules do.
"""

from flowyml.core.assets import Asset, AssetMetadata, Dataset, Metrics, Model

__all__ = ["Asset", "AssetMetadata", "Dataset", "Metrics", "Model"]
