"""The service's periodic ledger snapshots (``xmargin serve --snapshot-every N --snapshot-interval S``).

A background thread looks every few seconds at how many events the ledger holds beyond its latest
snapshot (one aggregate row: Σ of the accounts' versions) and writes a new snapshot
(:func:`xmargin.ledger._snapshot.write_snapshot`) when that reaches ``every`` events, or when ``interval``
seconds have passed since the last one and there is at least one new event. Only the newest two snapshots
are kept. A failure is logged and tried again at the next look; it never stops the service. With shards,
only shard 0 writes snapshots (they cover the whole ledger; every shard reads them at start).

Defaults: 10,000 events or 600 s. A start then folds at most about 10,000 events (or ten minutes of them)
after the snapshot, a fraction of a second (docs/service.md, "Snapshots"), while writing one costs the
decoding of the accounts that moved and the compression of the whole payload (measured there too).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
from fastapi import FastAPI

from xmargin.ledger import EventStore
from xmargin.ledger._snapshot import SnapshotInfo, events_since, latest_info, prune, write_snapshot

LOG = logging.getLogger("xmargin.service")
DEFAULT_EVERY = 10_000
DEFAULT_INTERVAL = 600.0
KEEP = 2


@dataclass(frozen=True, slots=True)
class SnapshotPolicy:
    """Write a snapshot after ``every`` new events (0: never by count) or ``interval`` seconds with at least
    one new event (0: never by time); both 0: no periodic snapshots."""

    every: int = DEFAULT_EVERY
    interval: float = DEFAULT_INTERVAL

    @property
    def active(self) -> bool:
        return self.every > 0 or self.interval > 0


NO_SNAPSHOTS = SnapshotPolicy(every=0, interval=0)


class SnapshotWriter:
    """The background thread (module docstring)."""

    def __init__(self, store: EventStore, policy: SnapshotPolicy, *, poll: float = 2.0) -> None:
        self.store = store
        self.policy = policy
        self.poll = min(poll, policy.interval) if policy.interval > 0 else poll
        self.written: list[SnapshotInfo] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def due(self, info: SnapshotInfo | None, now: float, last: float) -> bool:
        new = events_since(self.store, info)
        if new <= 0:
            return False
        if self.policy.every > 0 and new >= self.policy.every:
            return True
        return self.policy.interval > 0 and now - last >= self.policy.interval

    def run_once(self, last: float) -> float:
        """Write a snapshot if one is due; returns when the last one was written (monotonic seconds)."""
        info = latest_info(self.store)
        now = time.monotonic()
        if not self.due(info, now, last):
            return last
        started = time.perf_counter()
        new = write_snapshot(self.store)
        prune(self.store, KEEP)
        self.written.append(new)
        LOG.info(
            "snapshot %d written: %d accounts, %d events, %d bytes, %.2f s",
            new.id,
            new.accounts,
            new.events,
            new.bytes,
            time.perf_counter() - started,
        )
        return time.monotonic()

    def _loop(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(self.poll):
            try:
                last = self.run_once(last)
            except Exception as exc:  # logged, tried again at the next look: never stops the service
                LOG.error("snapshot not written: %s: %s", type(exc).__name__, exc)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="xmargin-snapshots", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)


def with_snapshots(
    inner: Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]],
    writer: SnapshotWriter | None,
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """``inner`` (the app's lifespan) with the snapshot writer started after it and stopped before it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with inner(app):
            if writer is not None:
                writer.start()
            app.state.snapshots = writer
            try:
                yield
            finally:
                if writer is not None:
                    await anyio.to_thread.run_sync(writer.stop)

    return lifespan
