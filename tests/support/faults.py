"""Faults of the network and of Redis, for the tests that inject them.

:class:`RedisServer` is a redis-server of a test's own on a free port, to stop (losing
every key) and start again; :class:`Partition` is a TCP proxy in front of one, to cut the
network while Redis keeps running. Used by tests/test_faults.py and
tests/test_revocation_durability.py; never touches the shared Redis on port 6379.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

from tests.support.gunicorn_example import free_port, listening, wait_for


class RedisServer:
    """A redis-server of the test's own on a free port, without persistence, so that
    stopping it loses every key as a restart in production may."""

    def __init__(self, workdir: Path) -> None:
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.workdir),
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(lambda: listening(self.port), f"redis-server on port {self.port}", timeout=20)

    def stop(self) -> None:
        """``SHUTDOWN NOSAVE``, then wait until the process is gone."""
        # On a raw socket: redis-py retries (with backoff) the connection SHUTDOWN closes.
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(b"SHUTDOWN NOSAVE\r\n")
            while sock.recv(1024):
                pass
        assert self.process is not None
        self.process.wait(timeout=20)
        wait_for(lambda: not listening(self.port), "redis-server to stop", timeout=20)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=20)

    def stored_keys(self) -> set[str]:
        return {key.decode() for key in self.client().scan_iter(count=1000)}


class Partition:
    """A TCP proxy in front of a Redis: :meth:`sever` cuts the network (open connections
    dropped, new ones closed at once) while Redis itself keeps running with its data."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = int(self.listener.getsockname()[1])
        self.severed = threading.Event()
        self.closed = threading.Event()
        self.sockets: set[socket.socket] = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                continue
            if self.severed.is_set():
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            with self.lock:
                self.sockets |= {client, upstream}
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            src.settimeout(None)
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def sever(self) -> None:
        self.severed.set()
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self.sockets.clear()

    def heal(self) -> None:
        self.severed.clear()

    def close(self) -> None:
        self.closed.set()
        self.sever()
        self.listener.close()
