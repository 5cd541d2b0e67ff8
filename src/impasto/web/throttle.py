"""Counting what clients do, so that one of them (or all of them together) cannot do too much.

A client is its address, as the server sees it: an IPv6 client owns a whole /64 network, so it
is counted by that prefix, not by each of its addresses. ``Buckets`` allows a burst and then a
steady rate per client and for everyone together (wrong passwords); ``Slots`` counts things held
open, per client and in all (event streams). Both are plain in-process state of one server.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


def client_key(host: str | None) -> str:
    """What a client is counted as: its IPv4 address, or its IPv6 address's /64 network."""
    if not host:
        return "?"
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.ip_network(f"{addr}/64", strict=False))
    return str(addr)


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class Buckets:
    """Token buckets: ``burst`` at once, then ``per_minute``, per key and for all keys together.
    ``take(key)`` spends one token from both, or says how many seconds until there is one."""

    burst: int
    per_minute: float
    total_burst: int
    total_per_minute: float
    clock: Callable[[], float] = time.monotonic
    _keys: dict[str, _Bucket] = field(default_factory=dict)
    _all: _Bucket | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _level(self, b: _Bucket, burst: int, per_minute: float, now: float) -> float:
        return min(burst, b.tokens + (now - b.at) * per_minute / 60.0)

    def wait(self, key: str) -> float:
        """Seconds until ``key`` may try again (0: now)."""
        with self._lock:
            return self._wait(key, self.clock())

    def _wait(self, key: str, now: float) -> float:
        mine = self._keys.get(key)
        waits = [0.0]
        if mine is not None:
            level = self._level(mine, self.burst, self.per_minute, now)
            if level < 1:
                waits.append((1 - level) * 60.0 / self.per_minute)
        if self._all is not None:
            level = self._level(self._all, self.total_burst, self.total_per_minute, now)
            if level < 1:
                waits.append((1 - level) * 60.0 / self.total_per_minute)
        return max(waits)

    def spend(self, key: str) -> None:
        """Count one (a wrong password) against ``key`` and against everyone."""
        with self._lock:
            now = self.clock()
            mine = self._keys.get(key) or _Bucket(float(self.burst), now)
            mine.tokens, mine.at = self._level(mine, self.burst, self.per_minute, now) - 1, now
            self._keys[key] = mine
            every = self._all or _Bucket(float(self.total_burst), now)
            every.tokens = self._level(every, self.total_burst, self.total_per_minute, now) - 1
            every.at = now
            self._all = every
            if len(self._keys) > 10_000:  # forget keys whose buckets are full again
                full = [k for k, b in self._keys.items()
                        if self._level(b, self.burst, self.per_minute, now) >= self.burst]
                for k in full:
                    del self._keys[k]


@dataclass
class Slots:
    """Things held open (event streams): at most ``per_key`` per client and ``total`` in all."""

    per_key: int
    total: int
    _held: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, key: str) -> str | None:
        """Take one for ``key``; None when taken, else why not (one line)."""
        with self._lock:
            if sum(self._held.values()) >= self.total:
                return "the server is following as many jobs as it can; try again shortly"
            if self._held.get(key, 0) >= self.per_key:
                return f"this address already follows {self.per_key} jobs; close a page or two first"
            self._held[key] = self._held.get(key, 0) + 1
            return None

    def give_back(self, key: str) -> None:
        with self._lock:
            left = self._held.get(key, 0) - 1
            if left > 0:
                self._held[key] = left
            else:
                self._held.pop(key, None)

    def held(self, key: str | None = None) -> int:
        with self._lock:
            return sum(self._held.values()) if key is None else self._held.get(key, 0)
