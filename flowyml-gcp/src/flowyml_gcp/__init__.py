"""flowyml on Google Cloud: the ``vertex_ai`` backend and ``gs://`` artifact storage.

Nothing here imports a Google SDK: the plugin registers cheaply, and aiplatform / kfp /
storage / logging load inside the operations that need them.
"""

from flowyml_gcp.config import VertexAIConfig

__all__ = ["VertexAIConfig"]
