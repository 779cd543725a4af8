"""Fault: while a CLI ingest held the SQLite store's write lock, `socialcredit serve` froze: the
decision endpoint ran its store work on the event loop and waited there 30 s for the lock, so
/healthz stalled too, and the decision came back 500; reads that log an access waited as long.
Now no store work runs on the event loop, a request waits for the lock at most
`serve --busy-timeout` seconds (2) and then answers 503 with Retry-After, and /healthz never
touches the store. Checked on a real server process on a loopback port, with another process's
write transaction held open on the same file."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

import servers
from factories import new_store
from service_world import A, utc_now, world
from socialcredit.domain.principals import Principal, Role
from socialcredit.services.consents import grant_consent


@contextmanager
def serving(store: str, log: Path) -> Iterator[str]:
    """`socialcredit serve` in its own process (no maintenance run); yields its URL."""
    with servers.serving(store, log, "--rate-limit", "0", "--maintain-every", "0") as base:
        yield base


def timed(method: str, url: str, **options: Any) -> tuple[float, int | str, httpx.Headers]:
    """How long a request took, its status (or the error that ended it) and its headers."""
    began = time.monotonic()
    try:
        answer = httpx.request(method, url, timeout=15, **options)
    except httpx.HTTPError as exc:
        return time.monotonic() - began, type(exc).__name__, httpx.Headers()
    return time.monotonic() - began, answer.status_code, answer.headers


def test_a_busy_store_slows_no_request_past_its_bound(tmp_path: Path) -> None:
    engine = new_store(tmp_path)
    with world(engine) as w:
        subject = Principal(w.ids["subject"], Role.SUBJECT, "A", utc_now(), subject=A)
        decisions = grant_consent(
            engine,
            subject,
            relying_party=w.ids["relying_party"],
            purpose="travel_booking",
            scopes=["decisions"],
            expires_at=utc_now() + timedelta(days=1),
        ).token
        party = {"Authorization": f"Bearer {w.keys['relying_party']}"}
        reads = w.consent_token
    engine.dispose()
    url = f"sqlite:///{tmp_path}/t.db"
    with serving(url, tmp_path / "serve.log") as base:
        decide = {
            "params": {"purpose": "travel_booking"},
            "headers": {**party, "X-Consent": decisions},
        }
        scores = {
            "params": {"purpose": "travel_booking"},
            "headers": {**party, "X-Consent": reads},
        }
        decision_url = f"{base}/v1/subjects/{A}/decisions/flight_booking"
        scores_url = f"{base}/v1/subjects/{A}/scores"
        assert timed("GET", decision_url, **decide)[1] == 200
        assert timed("GET", scores_url, **scores)[1] == 200

        holder = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process writes (a bulk ingest, say)
        try:
            answers: dict[str, Any] = {}
            asking = threading.Thread(
                target=lambda: answers.update(decision=timed("GET", decision_url, **decide))
            )
            asking.start()
            time.sleep(0.3)  # the decision is waiting for the lock now
            health = timed("GET", f"{base}/healthz")
            asking.join()
            read = timed("GET", scores_url, **scores)
        finally:
            holder.execute("ROLLBACK")
            holder.close()

        assert health[1] == 200 and health[0] < 1, health
        for took, status, headers in (answers["decision"], read):
            assert status == 503, (took, status)
            assert took < 4, (took, status)
            assert int(headers["Retry-After"]) >= 1
        assert timed("GET", decision_url, **decide)[1] == 200
        assert timed("GET", scores_url, **scores)[1] == 200
    log = (tmp_path / "serve.log").read_text()
    assert "Traceback" not in log and "unhandled error" not in log
