"""A real `socialcredit serve` in its own process on a free loopback port, for tests that need
the server itself (signals, proxy headers, a store locked by another process)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(store: str, log: Path, *options: str) -> Iterator[str]:
    """`socialcredit serve --db STORE OPTIONS`, its stderr in `log`; yields its base URL once
    /healthz answers, and stops it with SIGINT (then SIGKILL) on exit."""
    port = free_port()
    command = [sys.executable, "-m", "socialcredit", "serve", "--port", str(port), *options]
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [*command, "--db", store],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the server did not start:\n{log.read_text()}")
                time.sleep(0.2)
            yield base
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
