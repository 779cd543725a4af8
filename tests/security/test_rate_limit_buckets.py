"""Fault: the rate limiter kept a bucket for every key and address it ever saw, never evicting
one, so callers from ever new addresses grew the server's memory without end. The buckets are
now a bounded map, least recently used dropped first, and a busy caller keeps its limit."""

from __future__ import annotations

from service_world import World
from socialcredit.api.ratelimit import MAX_KEYS, TokenBucket


def test_the_buckets_never_outgrow_their_bound() -> None:
    bucket = TokenBucket(rate=1.0, burst=2, clock=lambda: 0.0, max_keys=100)
    for n in range(10_000):
        bucket.take(f"public:10.0.{n // 256}.{n % 256}")
    assert len(bucket) == 100


def test_a_caller_in_use_keeps_its_limit_while_strangers_come_and_go() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=1.0, burst=2, clock=lambda: now[0], max_keys=100)
    assert [bucket.take("hot") for _ in range(2)] == [0.0, 0.0]
    for n in range(1_000):
        bucket.take(f"stranger-{n}")
        if n % 50 == 0:
            assert bucket.take("hot") > 0  # still limited: its bucket was not dropped
    now[0] += 2.0
    assert bucket.take("hot") == 0.0


def test_a_dropped_bucket_was_full_again_anyway() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=1.0, burst=2, clock=lambda: now[0], max_keys=2)
    bucket.take("old")
    bucket.take("old")
    now[0] += 2.0  # burst / rate seconds later the bucket is full again
    bucket.take("a")
    bucket.take("b")
    assert len(bucket) == 2
    assert [bucket.take("old") for _ in range(3)][:2] == [0.0, 0.0]


def test_the_service_limiter_is_bounded(served: World) -> None:
    limiter = served.client.app.state.api.limiter  # type: ignore[attr-defined]
    assert limiter.max_keys == MAX_KEYS
    assert MAX_KEYS <= 1_000_000
