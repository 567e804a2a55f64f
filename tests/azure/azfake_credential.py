"""A static azure-core ``TokenCredential`` for tests: unsigned JWTs, no AAD, no network.

Importable by path (``azfake_credential:FakeCredential``) so a fresh process re-attaching to a
run builds the same credential from the run's config.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FakeCredential:
    """``get_token`` returns a JWT whose ``aud`` is the requested resource.

    azure-ai-ml decodes tokens without verifying them: pipeline submission requires
    ``aud == https://ml.azure.com`` on its second token, and ``jobs.get`` reads ``tid``.
    """

    def __init__(self) -> None:
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **_kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.scopes.extend(scopes)
        resource = scopes[0].removesuffix("/.default") if scopes else ""
        now = int(time.time())
        claims = {
            "aud": resource,
            "iss": "https://sts.invalid/",
            "tid": "fake-tenant",
            "oid": "fake-oid",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
        }
        header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        token = f"{header}.{_b64(json.dumps(claims).encode())}.{_b64(b'unsigned')}"
        return AccessToken(token, now + 3600)

    def close(self) -> None:
        """Nothing to release."""
