"""Small rate limits for the host link."""

import threading
import time

from django.conf import settings
from django.core.cache import cache

MINUTE = 60


def window_count(key: str, window: int) -> int:
    """Count one hit in a fixed window and return the hits so far.
    cache.incr is atomic on Redis, so the count holds across hub processes."""
    cache.add(key, 0, timeout=window)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window)
        return 1


def window_hit(key: str, limit: int, window: int) -> bool:
    """Count one hit in a fixed window; False once `limit` is passed."""
    return window_count(key, window) <= limit


def host_connect_allowed(*, token_key: str) -> bool:
    """Counts a connect of one host token: a host reconnects, it does not hammer."""
    return window_hit(f"hostlink:token:{token_key}", settings.HOST_CONNECTS_PER_TOKEN, MINUTE)


def host_auth_failure_allowed(*, client_ip: str) -> bool:
    """Counts a failed host authentication from an address; False past the limit.
    Only failures count: a valid host is never refused for its neighbours."""
    return window_hit(f"hostlink:authfail:{client_ip}", settings.HOST_AUTH_FAILURES_PER_IP, MINUTE)


class LogBudget:
    """Log lines per key (a host, an address): `limit` a window, the rest only
    counted and told in one summary line. Per hub process, in memory: a flood
    must not cost a cache round trip per frame just to stay quiet."""

    MAX_KEYS = 10_000

    def __init__(self, window: float = 60):
        self.window = window
        self._lock = threading.Lock()
        self._keys: dict[object, list] = {}  # key -> [window start, lines, suppressed]

    def take(self, key, limit: int) -> tuple[bool, int]:
        """(may this event be logged, events suppressed in the key's window that just ended)."""
        now = time.monotonic()
        with self._lock:
            state = self._keys.get(key)
            ended = 0
            if state is None or now - state[0] >= self.window:
                ended = state[2] if state else 0
                if len(self._keys) >= self.MAX_KEYS:
                    self._forget_before(now - self.window)
                state = self._keys[key] = [now, 0, 0]
            if state[1] < limit:
                state[1] += 1
                return True, ended
            state[2] += 1
            return False, ended

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()

    def flush(self, key) -> int:
        """Forget the key; returns the events it suppressed, for a last summary line."""
        with self._lock:
            state = self._keys.pop(key, None)
        return state[2] if state else 0

    def _forget_before(self, start: float) -> None:
        for key in [key for key, state in self._keys.items() if state[0] < start]:
            del self._keys[key]


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
