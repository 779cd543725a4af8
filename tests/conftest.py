"""Shared fixtures: a real PostgreSQL server for the session, and the store backends every
contract test runs against (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import factories
from postgres import cluster

POSTGRES_VARIABLE = "SOCIALCREDIT_TEST_POSTGRES"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server: $SOCIALCREDIT_TEST_POSTGRES, or a throwaway cluster."""
    url = os.environ.get(POSTGRES_VARIABLE)
    if url:
        yield url
        return
    with cluster() as started:
        yield started


@pytest.fixture(params=["sqlite", "postgresql"])
def store_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test once per store backend; `factories.new_store` follows it."""
    server = request.getfixturevalue("postgres_server") if request.param == "postgresql" else None
    factories.use_backend(request.param, server)
    try:
        yield request.param
    finally:
        factories.use_backend("sqlite", None)
