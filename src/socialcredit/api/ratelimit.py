"""Rate limits per principal: a token bucket in memory, refilled continuously, for at most so
many keys at once."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

MAX_KEYS = 100_000
"""Buckets a limiter holds at most: past that, the least recently used one is dropped."""


class TokenBucket:
    """Each key may make `burst` calls at once and `rate` calls a second after that.

    A rate of 0 turns limiting off. The state lives in this process: with several server
    processes, each has its own buckets. At most `max_keys` buckets are kept, the least
    recently used dropped first, so callers that never come back (every address on the
    internet, say) cannot grow the map without end; a bucket unused for `burst / rate`
    seconds is full again anyway, so dropping it changes nothing.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        if rate < 0 or burst < 1 or max_keys < 1:
            raise ValueError("the rate must be >= 0, the burst >= 1 and max_keys >= 1")
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """How many keys have a bucket now."""
        return len(self._buckets)

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key: str) -> float:
        """Spend one token of `key`'s bucket: 0.0 when allowed, else the seconds until the
        next token."""
        if not self.enabled:
            return 0.0
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._keep(key, tokens - 1.0, now)
                return 0.0
            self._keep(key, tokens, now)
            return (1.0 - tokens) / self.rate

    def _keep(self, key: str, tokens: float, now: float) -> None:
        """Store `key`'s bucket as the most recently used; drop the least recently used
        past max_keys. Call with the lock held."""
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)

    def wait(self, key: str) -> float:
        """Seconds until `key` may spend a token (0.0: now), spending nothing."""
        if not self.enabled:
            return 0.0
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate


def retry_after(seconds: float) -> str:
    """The Retry-After header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
