"""Artifacts: bytes in a storage (``file://``, ``s3://``, ...) plus a manifest flowyml writes itself."""
