"""The test users' password, a browser's user agent, and API clients that carry a token."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

#: Password of every user the ``user``/``make_user`` fixtures (tests/conftest.py) create.
PASSWORD = "correct horse battery staple"
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"


def bearer(access: str) -> APIClient:
    """A fresh client that sends ``Authorization: Bearer <access>``."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def refresh(raw: str) -> Any:
    """POST a refresh token in the body, as a native client does."""
    return APIClient().post("/api/auth/refresh/", {"refresh": raw}, format="json")
