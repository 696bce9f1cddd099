"""The group commit's writer thread: batching, failures, closing, cancelled and foreign waiters."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Sequence

import pytest

from pagerbridge.errors import QueueFullError, StorageError
from pagerbridge.outbox.group_commit import MAX_BATCH, MAX_BATCH_BYTES, GroupCommit, Waiter
from pagerbridge.outbox.storage import NewRow
from pagerbridge.outbox.types import PENDING, EnqueuedRow


def row(n: int) -> NewRow:
    return NewRow("event", f'{{"n":{n}}}', f"rk/{n}", "rk", str(n), PENDING)


class Recorder:
    """An insert that records its batches; it can be held (to let rows queue up) or fail."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.threads: set[str] = set()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.fail_next: BaseException | None = None
        #: The rows of the latest commit, as soon as it starts (``batches`` after it is let go).
        self.taken: list[str] = []

    def __call__(self, rows: Sequence[NewRow]) -> list[EnqueuedRow | Exception]:
        self.threads.add(threading.current_thread().name)
        self.taken = [r.dedup_key or "" for r in rows]
        self.entered.set()
        self.release.wait(10)
        self.batches.append([r.dedup_key or "" for r in rows])
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc
        out: list[EnqueuedRow | Exception] = []
        for r in rows:
            if r.dedup_key == "full":
                out.append(QueueFullError("full"))
            else:
                out.append(EnqueuedRow(int(r.dedup_key or 0), r.dedup_key, r.routing_key, r.state))
        return out


async def wait_until(flag: threading.Event) -> None:
    assert await asyncio.to_thread(flag.wait, 10)


async def until(condition: Callable[[], bool], what: str, within: float = 10.0) -> None:
    """Poll ``condition`` on the loop (other tasks and the writer threads run meanwhile)."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"not {what} within {within} s"
        await asyncio.sleep(0.001)


def work_queue(group: GroupCommit) -> queue.SimpleQueue[Waiter | None]:
    """The queue the writers take rows from (a peek at a private: a submit hands its row over
    there before it awaits, and nothing else shows that it has)."""
    work = group._queue
    assert work is not None, "no writers are running"
    return work


async def queued(group: GroupCommit, rows: int) -> None:
    """Wait until ``rows`` rows wait for a writer (the writer is held in a commit)."""
    work = work_queue(group)
    await until(lambda: work.qsize() >= rows, f"{rows} rows queued")


async def held_in_first_commit(
    first_row: int = 1,
) -> tuple[Recorder, GroupCommit, asyncio.Future[EnqueuedRow]]:
    """A group commit whose writer is inside its first commit, held there until
    ``insert.release`` is set, so that rows submitted meanwhile queue up."""
    insert = Recorder()
    group = GroupCommit(insert)
    insert.release.clear()
    first = asyncio.ensure_future(group.submit(row(first_row)))
    await wait_until(insert.entered)
    return insert, group, first


async def test_rows_that_queue_during_a_commit_share_the_next_one() -> None:
    insert = Recorder()
    committed: list[str] = []
    group = GroupCommit(
        insert, on_committed=lambda: committed.append(threading.current_thread().name)
    )
    insert.release.clear()
    first = asyncio.ensure_future(group.submit(row(1)))
    await wait_until(insert.entered)  # the writer is inside the first commit, held
    rest = [asyncio.ensure_future(group.submit(row(n))) for n in range(2, 52)]
    await queued(group, 50)
    insert.release.set()
    results = await asyncio.gather(first, *rest)
    assert [r.id for r in results] == list(range(1, 52))
    assert insert.batches == [["1"], [str(n) for n in range(2, 52)]]  # two commits, not 51
    assert insert.threads == {"outbox-group-commit-0"}  # never the loop's thread
    assert committed == [threading.current_thread().name] * 2  # once per batch, on the loop
    await asyncio.to_thread(group.close)


async def test_a_failed_commit_fails_its_waiters_and_the_next_one_works() -> None:
    insert = Recorder()
    group = GroupCommit(insert)
    insert.fail_next = StorageError("disk full")
    with pytest.raises(StorageError, match="disk full"):
        await group.submit(row(1))
    assert (await group.submit(row(2))).id == 2  # the thread survived the failure
    await asyncio.to_thread(group.close)


async def test_a_refused_row_fails_alone() -> None:
    group = GroupCommit(Recorder())
    full = NewRow("event", "{}", "rk/full", "rk", "full", PENDING)
    results = await asyncio.gather(
        group.submit(row(1)), group.submit(full), group.submit(row(3)), return_exceptions=True
    )
    assert isinstance(results[1], QueueFullError)
    assert [r.id for r in (results[0], results[2])] == [1, 3]  # type: ignore[union-attr]
    await asyncio.to_thread(group.close)


async def test_close_writes_everything_submitted_then_a_new_submit_restarts() -> None:
    insert = Recorder()
    group = GroupCommit(insert)
    insert.release.clear()
    waiters = [asyncio.ensure_future(group.submit(row(n))) for n in range(1, 6)]
    await wait_until(insert.entered)  # the writer is inside its first commit, held
    work = work_queue(group)
    waiting = 5 - len(insert.taken)  # how many rows the first commit took depends on timing
    await until(lambda: work.qsize() == waiting, "every row handed over")
    closing = asyncio.ensure_future(asyncio.to_thread(group.close))
    await until(lambda: work.qsize() == waiting + 1, "close's stop marker queued after the rows")
    assert not closing.done()  # close waits for the commit in progress and the queued rows
    insert.release.set()
    await closing
    assert sorted(k for batch in insert.batches for k in batch) == [str(n) for n in range(1, 6)]
    assert [r.id for r in await asyncio.gather(*waiters)] == [1, 2, 3, 4, 5]
    assert (await group.submit(row(9))).id == 9
    await asyncio.to_thread(group.close)


async def test_a_cancelled_caller_does_not_break_the_batch() -> None:
    insert, group, first = await held_in_first_commit()
    gone = asyncio.ensure_future(group.submit(row(2)))
    stays = asyncio.ensure_future(group.submit(row(3)))
    await queued(group, 2)  # both rows handed over: the cancel comes after
    gone.cancel()
    insert.release.set()
    assert (await first).id == 1 and (await stays).id == 3
    assert ["2", "3"] in insert.batches  # the row was stored even though nobody waits for it
    await asyncio.to_thread(group.close)


def test_waiters_on_different_loops_each_get_their_answer() -> None:
    insert = Recorder()
    group = GroupCommit(insert)
    insert.release.clear()
    got: dict[int, int] = {}

    def caller(n: int) -> None:
        async def one() -> None:
            got[n] = (await group.submit(row(n))).id

        asyncio.run(one())

    threads = [threading.Thread(target=caller, args=(n,)) for n in (1, 2, 3)]
    for t in threads:
        t.start()
    assert insert.entered.wait(10)
    insert.release.set()
    for t in threads:
        t.join(10)
    assert got == {1: 1, 2: 2, 3: 3}
    group.close()


async def test_a_burst_is_cut_into_bounded_transactions() -> None:
    insert, group, first = await held_in_first_commit(first_row=0)
    burst = [asyncio.ensure_future(group.submit(row(n))) for n in range(1, MAX_BATCH + 11)]
    await queued(group, MAX_BATCH + 10)
    insert.release.set()
    await asyncio.gather(first, *burst)
    assert [len(b) for b in insert.batches] == [1, MAX_BATCH, 10]
    await asyncio.to_thread(group.close)


def test_one_thread_running_loops_one_after_another() -> None:
    group = GroupCommit(Recorder())

    async def one(n: int) -> int:
        return (await group.submit(row(n))).id

    assert asyncio.run(one(1)) == 1
    assert asyncio.run(one(2)) == 2  # a fresh loop in the same thread, not the closed one
    group.close()


async def test_two_writers_commit_side_by_side() -> None:
    """PostgreSQL's two writers: a batch commits while another writer is still in its commit."""
    first_in, let_first_go = threading.Event(), threading.Event()
    names: list[str] = []

    def insert(rows: Sequence[NewRow]) -> list[EnqueuedRow | Exception]:
        names.append(threading.current_thread().name)
        if rows[0].dedup_key == "1":
            first_in.set()
            let_first_go.wait(10)
        return [
            EnqueuedRow(int(r.dedup_key or 0), r.dedup_key, r.routing_key, r.state) for r in rows
        ]

    group = GroupCommit(insert, writers=2)
    first = asyncio.ensure_future(group.submit(row(1)))
    await wait_until(first_in)
    assert (await asyncio.wait_for(group.submit(row(2)), 10)).id == 2
    assert not first.done()  # the first writer is still inside its commit
    let_first_go.set()
    assert (await first).id == 1
    assert sorted(names) == ["outbox-group-commit-0", "outbox-group-commit-1"]
    await asyncio.wait_for(asyncio.to_thread(group.close), 10)  # both threads stop


async def test_a_row_submitted_while_closing_is_still_written() -> None:
    insert, group, first = await held_in_first_commit()
    old = work_queue(group)
    closing = asyncio.ensure_future(asyncio.to_thread(group.close))
    await until(lambda: old.qsize() == 1, "close's stop marker queued")  # close waits for it
    late = asyncio.ensure_future(group.submit(row(2)))  # starts fresh writers
    await until(lambda: group._queue not in (None, old), "the late row on a fresh queue")
    insert.release.set()
    await closing
    assert (await first).id == 1 and (await asyncio.wait_for(late, 10)).id == 2
    await asyncio.to_thread(group.close)


async def test_large_events_are_cut_into_bounded_transactions_by_size() -> None:
    insert, group, first = await held_in_first_commit()
    big = "x" * (MAX_BATCH_BYTES // 4)  # four of these reach the byte bound
    rows = [NewRow("event", big, f"rk/{n}", "rk", str(n), PENDING) for n in range(2, 12)]
    waiters = [asyncio.ensure_future(group.submit(r)) for r in rows]
    await queued(group, 10)
    insert.release.set()
    await asyncio.gather(first, *waiters)
    assert [len(b) for b in insert.batches] == [1, 4, 4, 2]
    await asyncio.to_thread(group.close)
