"""Helpers shared by the tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.dispatch import Signal
from rest_framework.test import APIClient

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


@contextmanager
def catch_signal(signal: Signal) -> Iterator[list[dict[str, Any]]]:
    """Record the keyword arguments of every ``signal`` sent inside the block."""
    sent: list[dict[str, Any]] = []

    def handler(sender: Any, **kwargs: Any) -> None:
        kwargs.pop("signal", None)
        sent.append({"sender": sender, **kwargs})

    signal.connect(handler, weak=False)
    try:
        yield sent
    finally:
        signal.disconnect(handler)
