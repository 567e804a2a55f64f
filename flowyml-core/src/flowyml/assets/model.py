"""FlowyML's module name for :class:`~flowyml.core.assets.Model`."""

from flowyml.core.assets import Model

__all__ = ["Model"]
