"""Recording the signals a block of code sends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.dispatch import Signal


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
