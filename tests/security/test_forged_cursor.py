"""Fault: a forged cursor whose key is a number of 2^63 or more answered 500 on every list (the
store's 64-bit integers overflowed). A cursor is only ever a key a list could have handed out:
any other is a 400 invalid-cursor problem, on every list that pages, on both stores."""

from __future__ import annotations

from typing import Any

import pytest

from service_world import ROLES, A, World
from socialcredit.services.pages import encode_cursor

LISTS = (
    "submissions", "history", "records", "relations", "access-log", "notices", "consents",
    "principals", "decisions", "disputes", "reviews", "reports", "purges", "subject-purges",
    "shares",
)  # fmt: skip

FORGED_KEYS: tuple[Any, ...] = (
    2**63,
    2**64 + 5,
    10**30,
    -(2**63) - 1,
    -1,
    "\x00",
    "p_\x00" + "a" * 20,
    "x" * 300,
)


def _paged_paths(w: World) -> list[str]:
    """Every GET path whose list pages with a cursor, with a concrete subject."""
    document = w.client.get("/openapi.json").json()
    return [
        path.replace("{id}", A)
        for path, item in document["paths"].items()
        if any(p["name"] == "cursor" for p in item.get("get", {}).get("parameters", []))
    ]


PARAMS = {"purpose": "travel_booking", "furnisher": "me"}


def _caller(w: World, path: str) -> dict[str, str]:
    """The headers of a role that may read the list (relying parties with A's consent)."""
    for role in ROLES:
        headers = w.auth(role, **{"X-Consent": w.consent_token})
        if w.client.get(path, params=PARAMS, headers=headers).status_code == 200:
            return headers
    raise AssertionError(f"no role reads {path}")


def test_every_paged_list_is_found(served: World) -> None:
    assert len(_paged_paths(served)) >= 11


@pytest.mark.parametrize("key", FORGED_KEYS, ids=lambda key: repr(key)[:16])
def test_a_forged_cursor_is_a_400_on_every_list(served: World, key: Any) -> None:
    for path in _paged_paths(served):
        headers = _caller(served, path)
        for name in LISTS:
            params = {**PARAMS, "cursor": encode_cursor(name, key)}
            answer = served.client.get(path, params=params, headers=headers)
            assert answer.status_code == 400, (path, name, answer.text[:200])
            assert answer.json()["type"] == "/problems/invalid-cursor"


def test_a_handed_out_cursor_still_pages(served: World) -> None:
    first = served.client.get(
        f"/v1/subjects/{A}/records", params={"limit": 1}, headers=served.auth("subject")
    ).json()
    assert first["next_cursor"]
    second = served.client.get(
        f"/v1/subjects/{A}/records",
        params={"limit": 1, "cursor": first["next_cursor"]},
        headers=served.auth("subject"),
    )
    assert second.status_code == 200
    assert second.json()["items"][0]["id"] > first["items"][0]["id"]
