"""Failed-attempt throttling for the token endpoint, so client secrets cannot be guessed at speed."""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from dev_issuer.config import IssuerSettings


class FailureThrottle:
    """Failures per key (a client id, an address) in a sliding window; at `limit` the key waits.

    Holds at most `max_keys` keys, forgetting the least recently failing first, so a caller
    inventing keys cannot grow it without bound.
    """

    def __init__(
        self,
        *,
        limit: int,
        window_seconds: float,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._window = window_seconds
        self._max_keys = max_keys
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, key: str) -> int | None:
        """Whole seconds until `key` may try again, or None when it may try now."""
        failures = self._failures.get(key)
        if failures is None or len(failures) < self._limit:
            return None
        wait = failures[0] + self._window - self._clock()
        if wait <= 0:
            return None
        return max(1, math.ceil(wait))

    def failed(self, key: str) -> None:
        """Count one failure for `key`; only the last `limit` matter, so that is all it keeps."""
        failures = self._failures.get(key)
        if failures is None:
            failures = self._failures[key] = deque(maxlen=self._limit)
        failures.append(self._clock())
        self._failures.move_to_end(key)
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)


class TokenThrottle:
    """Failed `/token` attempts, counted per configured client id and per client address."""

    def __init__(self, settings: IssuerSettings) -> None:
        window = settings.token_failure_window_seconds
        self.clients = FailureThrottle(limit=settings.token_failures_per_client, window_seconds=window)
        self.addresses = FailureThrottle(limit=settings.token_failures_per_address, window_seconds=window)

    def retry_after(self, *, address: str, client_id: str | None) -> int | None:
        """The longer wait of the address and the client id, or None when the caller may try now."""
        waits = [self.addresses.retry_after(address)]
        if client_id is not None:
            waits.append(self.clients.retry_after(client_id))
        return max((w for w in waits if w is not None), default=None)

    def failed(self, *, address: str, client_id: str | None) -> None:
        """Count one failed attempt against the address and (a configured) client id."""
        self.addresses.failed(address)
        if client_id is not None:
            self.clients.failed(client_id)
