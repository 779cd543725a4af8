"""Fault: `socialcredit serve` left uvicorn's defaults on, which take the client's address from
X-Forwarded-For whenever the peer is 127.0.0.1, so a caller on the machine (or behind a local
proxy that passes the header through) picked any address it liked and each per-address limit
started afresh. Proxy headers are now ignored unless `serve --forwarded-allow-ips` names the
proxies to trust. Checked on a real server process on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import servers
from socialcredit.cli import app

runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/spoof.db"
    assert runner.invoke(app, ["init", "--db", url]).exit_code == 0
    return url


@contextmanager
def serving(store: str, log: Path, *options: str) -> Iterator[str]:
    """`socialcredit serve` in its own process with `options`; yields its base URL."""
    with servers.serving(store, log, "--maintain-every", "0", *options) as base:
        yield base


def forwarded(n: int) -> dict[str, str]:
    return {"X-Forwarded-For": f"198.51.100.{n}", "X-Real-IP": f"198.51.100.{n}"}


def test_x_forwarded_for_does_not_reset_the_anonymous_limit(store: str, tmp_path: Path) -> None:
    with serving(store, tmp_path / "serve.log", "--rate-limit", "0.01", "--burst", "3") as base:
        statuses = [
            httpx.get(f"{base}/v1/public/lists", headers=forwarded(n), timeout=30).status_code
            for n in range(6)
        ]
    assert statuses == [200, 200, 200, 429, 429, 429]


def test_x_forwarded_for_does_not_reset_the_failed_key_limit(store: str, tmp_path: Path) -> None:
    options = ("--failed-auth-rate", "0.01", "--failed-auth-burst", "3")
    with serving(store, tmp_path / "serve.log", *options) as base:
        statuses = [
            httpx.get(
                f"{base}/v1/me",
                headers={**forwarded(n), "Authorization": f"Bearer sck_guess-{n}"},
                timeout=30,
            ).status_code
            for n in range(6)
        ]
    assert statuses[:3] == [401, 401, 401] and statuses[-2:] == [429, 429]


def test_named_proxies_are_trusted_for_the_address(store: str, tmp_path: Path) -> None:
    options = ("--rate-limit", "0.01", "--burst", "2", "--forwarded-allow-ips", "127.0.0.1")
    with serving(store, tmp_path / "serve.log", *options) as base:
        each = [
            httpx.get(f"{base}/v1/public/lists", headers=forwarded(n), timeout=30).status_code
            for n in range(4)
        ]
        same = [
            httpx.get(f"{base}/v1/public/lists", headers=forwarded(99), timeout=30).status_code
            for _ in range(3)
        ]
    assert each == [200] * 4 and same == [200, 200, 429]
