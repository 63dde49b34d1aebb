"""Test-only middleware of the example, switched on by an environment variable."""

from __future__ import annotations

import os

from django.http import HttpRequest, HttpResponseBase
from django.utils.deprecation import MiddlewareMixin


class WorkerPidMiddleware(MiddlewareMixin):
    """``X-Worker-Pid``: the process that answered (``DEMO_WORKER_PID_HEADER=1``).

    tests/test_multiprocess.py sends a revoked token until each gunicorn worker has
    answered it, and needs to know which one did. Not for a deployment: it tells
    clients about the server's processes for no benefit of theirs.
    """

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        response["X-Worker-Pid"] = str(os.getpid())
        return response
