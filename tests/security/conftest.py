"""Fixtures for the hardening suite: the service world on each store backend, shared by the
tests of one module (each test leaves the world usable by the next)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import factories
from service_world import World, world


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """A populated, scored store with a principal of every role and a client, per backend."""
    server = request.getfixturevalue("postgres_server") if request.param == "postgresql" else None
    factories.use_backend(request.param, server)
    try:
        engine = factories.new_store(tmp_path_factory.mktemp("served"))
    finally:
        factories.use_backend("sqlite", None)
    with world(engine) as built:
        yield built
    engine.dispose()
