"""Artifacts: objects in a storage (``file://``, ``s3://``, ``gs://``, ``abfs://``, ...) with a manifest
and a sha256 flowyml writes itself.

``ArtifactStore(uri, settings)`` is the public entry point: ``save``, ``load``, ``exists``,
``manifest``. Plugins provide a :class:`~flowyml.artifacts.storage.Storage` per URI scheme.
"""

from flowyml.artifacts.store import ArtifactStore

__all__ = ["ArtifactStore"]
