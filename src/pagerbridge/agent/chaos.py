"""The kill -9 harness shared by ``tests/e2e/test_kill9.py`` and ``bench/soak_kill9.py``.

An agent subprocess delivers events over many routing keys to the sandbox, which injects 5xx,
429s, dropped connections and (with a short agent timeout) timeouts. At a random moment the agent
is killed with SIGKILL and started again on the same database. At the end the sandbox's arrival
record is checked: every event the agent acknowledged with 202 arrived; within each ordering key
(routing key + dedup key) events arrived in the order they were accepted; and any event that
arrived twice carried the same dedup key both times.

Clients behave like real ones: an event whose POST got no answer is sent again with the same
dedup key; an event that relied on the agent to generate its dedup key is not (that would be a
new alert), and is left out of the checks.
"""

from __future__ import annotations

import hashlib
import http.client
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pagerbridge.agent.testing import AgentProcess, post, start_agent_process
from pagerbridge.outbox import DEAD, open_outbox

#: Seconds at the start of each round during which every call to the sandbox times out.
TIMEOUT_PHASE = 0.4

AGENT_CONFIG = """\
listen: 127.0.0.1:0
pagerduty:
  timeout: {timeout}
delivery:
  workers: 64
  rate_limit_per_minute: 0
  retry_initial: 0.05
  retry_max: 1
  lease: {lease}
"""


def routing_keys(count: int) -> list[str]:
    return [hashlib.md5(f"key-{i}".encode()).hexdigest() for i in range(count)]  # noqa: S324


@dataclass
class Planned:
    """One event a client will send (and re-send, if it has its own dedup key)."""

    routing_key: str
    dedup_key: str | None
    summary: str

    def body(self) -> dict[str, Any]:
        event: dict[str, Any] = {
            "routing_key": self.routing_key,
            "event_action": "trigger",
            "payload": {"summary": self.summary, "source": "chaos", "severity": "error"},
        }
        if self.dedup_key is not None:
            event["dedup_key"] = self.dedup_key
        return event


@dataclass
class Kill9Report:
    rounds: int
    planned: int
    accepted: int
    arrivals: int
    duplicates: int
    missing: list[str] = field(default_factory=list)
    order_violations: list[str] = field(default_factory=list)
    dedup_mismatches: list[str] = field(default_factory=list)
    dead: int = 0
    late_duplicates: int = 0
    kills: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.missing or self.order_violations or self.dedup_mismatches or self.dead)


class _Clients:
    """Posting threads; each owns a disjoint set of routing keys, so acceptance order per key
    is the order that thread got its 202s."""

    def __init__(self, plan: list[Planned], threads: int) -> None:
        self.queues: list[list[Planned]] = [[] for _ in range(threads)]
        for item in plan:
            self.queues[hash(item.routing_key) % threads].append(item)
        self.accepted: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.accepted_auto: list[str] = []
        self.lock = threading.Lock()

    def accepted_count(self) -> int:
        return sum(len(v) for v in self.accepted.values()) + len(self.accepted_auto)

    def remaining(self) -> int:
        return sum(len(q) for q in self.queues)

    def run(self, url: str, stop: threading.Event) -> None:
        threads = [
            threading.Thread(target=self._post_all, args=(q, url, stop)) for q in self.queues
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def _post_all(self, queue: list[Planned], url: str, stop: threading.Event) -> None:
        while queue and not stop.is_set():
            item = queue[0]
            try:
                answer = post(url, item.body(), timeout=5)
            except (OSError, http.client.HTTPException):
                if item.dedup_key is None:
                    queue.pop(0)  # re-sending would make a new alert: leave it out
                return  # the agent is gone; the next round continues
            if answer.status != 202:
                raise AssertionError(f"agent answered {answer.status}: {answer.body[:200]!r}")
            queue.pop(0)
            with self.lock:
                if item.dedup_key is None:
                    self.accepted_auto.append(item.summary)
                else:
                    self.accepted[(item.routing_key, item.dedup_key)].append(item.summary)


def make_plan(rounds: int, per_round: int, keys: list[str]) -> list[Planned]:
    plan = []
    for n in range(rounds * per_round):
        rk = keys[n % len(keys)]
        lane = (n // len(keys)) % 3
        dedup = None if lane == 2 else f"lane-{lane}"
        plan.append(Planned(rk, dedup, f"{rk[:8]}|{dedup or 'auto'}|{n}"))
    return plan


def set_round_faults(sandbox: Any, rnd: int, *, timeouts: bool) -> None:
    faults: dict[str, Any] = {
        "error_rate": 0.1,
        "error_status": (500, 502, 503)[rnd % 3],
        "drop_rate": 0.03,
        "burst_429": 10,
    }
    if timeouts:
        faults["latency"] = 0.5  # longer than the agent's timeout: every call times out
    sandbox.set_faults(**faults)


def run_kill9(
    workdir: Path,
    sandbox: Any,
    *,
    rounds: int = 3,
    per_round: int = 300,
    keys: int = 50,
    seed: int | None = None,
    database_url: str | None = None,
    settle_timeout: float = 60.0,
    say: Callable[[str], None] = lambda _: None,
) -> Kill9Report:
    """Run the rounds against ``sandbox`` (a SandboxHandle with ``any_routing_key``)."""
    seed = random.randrange(2**32) if seed is None else seed
    say(f"kill -9 run: seed {seed}, {rounds} rounds x {per_round} events over {keys} keys")
    rng = random.Random(seed)
    started = time.monotonic()
    db = database_url or f"sqlite:///{workdir / 'chaos.db'}"
    config = AGENT_CONFIG.format(timeout=0.25, lease=1.0)
    plan = make_plan(rounds, per_round, routing_keys(keys))
    clients = _Clients(plan, threads=4)
    # Clients go round by round: each round offers the next `per_round` events (plus leftovers).
    offered: list[list[Planned]] = [q[:] for q in clients.queues]
    for q in clients.queues:
        q.clear()
    kills = 0
    for rnd in range(rounds):
        for i, q in enumerate(offered):
            share = len(offered[i]) // (rounds - rnd)
            clients.queues[i].extend(q[:share])
            del q[:share]
        agent = start_agent_process(
            database_url=db, events_url=sandbox.url, workdir=workdir, config_text=config
        )
        stop = threading.Event()
        poster = threading.Thread(target=clients.run, args=(agent.enqueue_url, stop))
        set_round_faults(sandbox, rnd, timeouts=True)
        poster.start()
        # Long enough to post a good part of the round, short enough to cut delivery mid-way.
        delay = rng.uniform(0.2, 0.5 + per_round / 800)
        time.sleep(min(delay, TIMEOUT_PHASE))
        set_round_faults(sandbox, rnd, timeouts=False)
        time.sleep(max(0.0, delay - TIMEOUT_PHASE))
        agent.kill()  # SIGKILL, mid-post or mid-delivery
        kills += 1
        stop.set()
        poster.join()
        with clients.lock:
            accepted = clients.accepted_count()
        say(
            f"round {rnd + 1}/{rounds}: SIGKILL after {delay:.2f} s; accepted so far {accepted}, "
            f"arrived {len(sandbox.arrivals())}, still to post {clients.remaining()}"
        )
    # Final run: no faults, post what is left, let everything drain.
    sandbox.set_faults()
    agent = start_agent_process(
        database_url=db, events_url=sandbox.url, workdir=workdir, config_text=config
    )
    try:
        for q, rest in zip(clients.queues, offered, strict=True):
            q.extend(rest)
        clients.run(agent.enqueue_url, threading.Event())
        expected = {s for lane in clients.accepted.values() for s in lane}
        expected.update(clients.accepted_auto)
        deadline = time.monotonic() + settle_timeout
        arrived: set[str] = set()
        while time.monotonic() < deadline:
            arrived = {a["summary"] for a in sandbox.arrivals()}
            if expected <= arrived:
                break
            time.sleep(0.25)
        code = agent.terminate()
        if code != 0:
            raise AssertionError(f"agent exited {code} on SIGTERM:\n{agent.log()}")
    finally:
        agent.kill()
    report = _check(clients, sandbox.arrivals(), rounds, len(plan), kills)
    report.dead = _dead(db)
    report.seconds = time.monotonic() - started
    return report


def _check(
    clients: _Clients, arrivals: list[dict[str, Any]], rounds: int, planned: int, kills: int
) -> Kill9Report:
    accepted_count = clients.accepted_count()
    seen: dict[str, set[str]] = defaultdict(set)
    order: dict[tuple[str, str], list[str]] = defaultdict(list)
    for a in arrivals:
        summary = a.get("summary") or ""
        seen[summary].add(a["dedup_key"])
        order[(a["routing_key"], a["dedup_key"])].append(summary)
    report = Kill9Report(
        rounds=rounds,
        planned=planned,
        accepted=accepted_count,
        arrivals=len(arrivals),
        duplicates=len(arrivals) - len(seen),
        kills=kills,
    )
    everything = {s for lane in clients.accepted.values() for s in lane}
    everything.update(clients.accepted_auto)
    report.missing = sorted(everything - set(seen))
    report.dedup_mismatches = sorted(s for s, keys in seen.items() if len(keys) > 1)
    for key, acked in clients.accepted.items():
        firsts: list[str] = []
        for summary in order.get(key, []):
            if summary not in firsts:
                firsts.append(summary)
        acked_set = set(acked)
        got = [s for s in firsts if s in acked_set]
        if got != [s for s in acked if s in set(got)]:
            report.order_violations.append(f"{key[0][:8]}/{key[1]}")
        # A call that timed out may still be processed later by the server, so a late duplicate
        # of an older event can follow a newer one; counted (not a failure), see docs/agent.md.
        index = {s: i for i, s in enumerate(acked)}
        last = -1
        for summary in order.get(key, []):
            i = index.get(summary)
            if i is None:
                continue
            if i < last:
                report.late_duplicates += 1
            last = max(last, i)
    return report


def _dead(db: str) -> int:
    outbox = open_outbox(db)
    try:
        return outbox.stats().by_state.get(DEAD, 0)
    finally:
        outbox.close()


__all__ = ["AgentProcess", "Kill9Report", "run_kill9"]
