"""FlowyML's module name for :class:`~flowyml.core.assets.Asset` and its metadata."""

from flowyml.core.assets import Asset, AssetMetadata

__all__ = ["Asset", "AssetMetadata"]
