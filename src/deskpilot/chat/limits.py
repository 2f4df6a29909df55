"""A small in-memory sliding-window rate limiter for the public chat endpoints.

Per process: with several server processes each allows the limit, which is fine for its purpose
(stopping a script from flooding a workspace with tickets or messages), not a quota.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

MAX_KEYS = 50_000


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str, *, limit: int, per_seconds: float) -> int:
        """Count one request; 0 if allowed, else the seconds to wait before the next one."""
        now = self.clock()
        with self._lock:
            if len(self._hits) >= MAX_KEYS:
                self._forget_idle(now, per_seconds)
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - per_seconds:
                hits.popleft()
            if len(hits) >= limit:
                return max(1, math.ceil(hits[0] + per_seconds - now))
            hits.append(now)
            return 0

    def _forget_idle(self, now: float, per_seconds: float) -> None:
        idle = [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - per_seconds]
        for key in idle:
            del self._hits[key]
        if len(self._hits) >= MAX_KEYS:  # all busy: start over rather than grow without bound
            self._hits.clear()

    def clear(self) -> None:
        with self._lock:
            self._hits.clear()
