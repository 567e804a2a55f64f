"""``flowyml.yaml``: named stacks (orchestrator, artifact store, resources, image) as frozen attrs classes."""

from flowyml.config.loader import load_config
from flowyml.config.models import ArtifactStoreConfig, FlowymlConfig, StackConfig

__all__ = ["ArtifactStoreConfig", "FlowymlConfig", "StackConfig", "load_config"]
