"""Small rate limits for the host link."""

import time

from django.core.cache import cache


def window_hit(key: str, limit: int, window: int) -> bool:
    """Count one hit in a fixed window; False once `limit` is passed.
    cache.incr is atomic on Redis, so the count holds across hub processes."""
    cache.add(key, 0, timeout=window)
    try:
        return cache.incr(key) <= limit
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window)
        return True


class TokenBucket:
    """Messages a link may send: `rate` a second sustained, `burst` at once."""

    def __init__(self, rate: float, burst: int):
        self.rate = rate
        self.capacity = burst
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
