"""Fault: share (badge) tokens reached the server log inside the request path. No secret a
request carries in its path (badge tokens, keys, consent tokens, enrolment codes, or whatever a
secret path parameter holds) is written to the log or to a metric label."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from service_world import World
from socialcredit.api.logs import JsonFormatter, redacted_path


@contextmanager
def server_log() -> Iterator[io.StringIO]:
    """Everything the service logs (requests and errors) while the block runs, as JSON lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("socialcredit.api")
    saved = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved)


def share_token(w: World) -> str:
    body = {"program": "sesame", "relying_party": w.ids["relying_party"]}
    made = w.client.post("/v1/shares", json=body, headers=w.auth("subject"))
    assert made.status_code == 201, made.text
    token: str = made.json()["token"]
    return token


def test_a_badge_token_never_reaches_the_log(served: World) -> None:
    token = share_token(served)
    with server_log() as log:
        read = served.client.get(f"/v1/badges/{token}", headers=served.auth("relying_party"))
        other = served.client.get(f"/v1/badges/{token}", headers=served.auth("admin"))
        missing = served.client.get(f"/v1/badges/{token}x", headers=served.auth("relying_party"))
    assert (read.status_code, other.status_code, missing.status_code) == (200, 403, 404)
    text = log.getvalue()
    assert text.count('"route": "/v1/badges/{token}"') == 3
    assert token not in text and token[4:20] not in text
    assert "/v1/badges/[redacted]" in text
    metrics = served.client.get("/metrics").text
    assert token not in metrics and 'route="/v1/badges/{token}"' in metrics


def test_secrets_on_paths_no_route_matches_are_redacted(served: World) -> None:
    secrets = {
        "key": served.keys["admin"],
        "consent": served.consent_token,
        "badge": share_token(served),
        "code": "sce_" + "Q" * 43,
    }
    with server_log() as log:
        for secret in secrets.values():
            assert served.client.get(f"/v1/badge/{secret}").status_code == 404
            served.client.get(f"/v1/nothing/{secret}/more", headers=served.auth("admin"))
    text = log.getvalue()
    assert text.count("/v1/badge/") == 4
    for name, secret in secrets.items():
        assert secret not in text and secret[4:] not in text, name


def test_a_secret_path_parameter_is_redacted_whatever_its_shape() -> None:
    path = redacted_path("/v1/badges/not-a-prefixed-token", {"token": "not-a-prefixed-token"})
    assert path == "/v1/badges/[redacted]"
    kept = redacted_path("/v1/subjects/110105196001011010/scores", {"id": "110105196001011010"})
    assert kept == "/v1/subjects/110105196001011010/scores"
    assert redacted_path("/x/sck_abc-DEF_123/y") == "/x/sck_[redacted]/y"
