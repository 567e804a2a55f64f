"""FlowyML's module name for :class:`~flowyml.core.assets.Dataset`."""

from flowyml.core.assets import Dataset

__all__ = ["Dataset"]
