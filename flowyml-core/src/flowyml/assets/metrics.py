"""FlowyML's module name for :class:`~flowyml.core.assets.Metrics`."""

from flowyml.core.assets import Metrics

__all__ = ["Metrics"]
