"""The group commit: writer threads store whatever rows are waiting, each batch one transaction.

Callers on an event loop hand a row over and await a future; a writer thread takes every row
that arrived while it was busy and writes them with one fsync. It loops on its own: as soon as a
batch is on disk it sends the results back to the loop (``call_soon_threadsafe``) and starts on
the rows that queued meanwhile, so the loop thread is never on the path between two commits.

One writer suits SQLite (one write lock: a second writer would only wait for it). PostgreSQL
takes concurrent transactions, so there a second writer commits while the first waits for its
round trips (its key locks keep each lane in order across writers).

Measured on the agent (docs/benchmarks.md): with an ``asyncio`` task that handed each batch to a
``ThreadPoolExecutor`` and waited, 45 % of every commit cycle was hand-over (the task waking,
the executor's thread waking, both winning the GIL back from the busy loop).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from contextlib import suppress

from pagerbridge.outbox.storage import NewRow
from pagerbridge.outbox.types import EnqueuedRow

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (pd-send's start-up)
if TYPE_CHECKING:
    import asyncio

#: Stores rows in one transaction; one result per row (an exception for a refused row).
InsertBatch = Callable[[Sequence[NewRow]], Sequence["EnqueuedRow | Exception"]]
Waiter = tuple[NewRow, "asyncio.Future[EnqueuedRow]"]

#: Most rows, and about the most payload bytes, in one transaction: bound a commit's time and
#: memory when a burst queues up (a thousand 512 KB events would be half a gigabyte at once).
MAX_BATCH = 1000
MAX_BATCH_BYTES = 8 * 1024 * 1024
_STOP = None


class GroupCommit:
    """``writers`` threads fed by one queue; ``submit`` is called on an event loop.

    ``on_committed`` runs on each waiter's loop after its batch is settled (the outbox uses it to
    wake local delivery workers).
    """

    def __init__(
        self,
        insert: InsertBatch,
        *,
        on_committed: Callable[[], None] = lambda: None,
        writers: int = 1,
    ) -> None:
        self._insert = insert
        self._on_committed = on_committed
        self._writers = writers
        #: The running writers and their queue (None until the first submit and after close).
        self._queue: queue.SimpleQueue[Waiter | None] | None = None
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._last_loop: tuple[int, asyncio.AbstractEventLoop] | None = None

    async def submit(self, row: NewRow) -> EnqueuedRow:
        """Queue ``row`` for the next commit; returns once it is durable (or raises its error)."""
        future: asyncio.Future[EnqueuedRow] = self._running_loop().create_future()
        # Under the lock (uncontended: no system call), so close() never swaps the queue between
        # our look at it and our put: every row lands before that queue's stop markers.
        with self._lock:
            (self._queue or self._start()).put((row, future))
        return await future

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        """The caller's loop. On Python 3.11 every ``get_running_loop()`` is a ``getpid()``
        system call, measurable per event, so the last one is reused while it runs in the same
        thread (one thread runs one loop at a time, so a running loop seen there is the caller's).
        """
        ident = threading.get_ident()
        cached = self._last_loop
        if cached is not None and cached[0] == ident and cached[1].is_running():
            return cached[1]
        import asyncio

        loop = asyncio.get_running_loop()
        self._last_loop = (ident, loop)
        return loop

    def _start(self) -> queue.SimpleQueue[Waiter | None]:
        """Start the writers on a fresh queue (the caller holds the lock)."""
        work: queue.SimpleQueue[Waiter | None] = queue.SimpleQueue()
        # Daemons: nothing is acknowledged before its commit returns, so a process that exits
        # without close() loses no accepted row, and never hangs on these threads.
        self._threads = [
            threading.Thread(
                target=self._run, args=(work,), name=f"outbox-group-commit-{n}", daemon=True
            )
            for n in range(self._writers)
        ]
        for thread in self._threads:
            thread.start()
        self._queue = work
        return work

    def close(self) -> None:
        """Write everything submitted so far, then stop the threads (blocking; call it off-loop).

        A submit after this starts fresh writers."""
        with self._lock:
            work, threads = self._queue, self._threads
            self._queue, self._threads = None, []
        if work is None:
            return
        for _ in threads:
            work.put(_STOP)  # after every row submitted to this queue: each thread stops at one
        for thread in threads:
            thread.join()

    def _run(self, work: queue.SimpleQueue[Waiter | None]) -> None:
        take = work.get
        take_now = work.get_nowait
        while True:
            first = take()
            if first is _STOP:
                return
            batch = [first]
            size = len(first[0].payload)
            stop = False
            while len(batch) < MAX_BATCH and size < MAX_BATCH_BYTES:
                try:
                    item = take_now()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
                size += len(item[0].payload)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[Waiter]) -> None:
        try:
            results: Sequence[EnqueuedRow | Exception] | BaseException = self._insert(
                [row for row, _ in batch]
            )
        except BaseException as exc:  # every waiter of this batch learns the failure
            results = exc
        loop = batch[0][1].get_loop()
        if all(future.get_loop() is loop for _, future in batch):
            self._send(loop, batch, results)
            return
        by_loop: dict[asyncio.AbstractEventLoop, list[int]] = {}
        for i, (_, future) in enumerate(batch):
            by_loop.setdefault(future.get_loop(), []).append(i)
        for each, indexes in by_loop.items():
            part = results if isinstance(results, BaseException) else [results[i] for i in indexes]
            self._send(each, [batch[i] for i in indexes], part)

    def _send(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: list[Waiter],
        results: Sequence[EnqueuedRow | Exception] | BaseException,
    ) -> None:
        # A closed loop raises RuntimeError: nobody is waiting for these answers any more.
        with suppress(RuntimeError):
            loop.call_soon_threadsafe(self._settle, batch, results)

    def _settle(
        self, batch: list[Waiter], results: Sequence[EnqueuedRow | Exception] | BaseException
    ) -> None:
        """On the loop: resolve each waiter's future, then wake listeners."""
        if isinstance(results, BaseException):
            for _, future in batch:
                if not future.done():
                    future.set_exception(results)
        else:
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # the caller was cancelled; the row is stored all the same
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
        self._on_committed()
