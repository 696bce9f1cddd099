"""Run the enabled checkers (each failing alone), notify, and turn the outcome into an exit code.

Exit codes (documented in docs/update-watcher.md):
0 no updates, 1 updates found, 2 some checkers failed (even if others found updates),
3 every checker failed, 4 configuration error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pagerbridge.paths import resolve_database_url
from pagerbridge.updates.checkers import CHECKERS
from pagerbridge.updates.commands import CheckerError, CommandRunner, SubprocessRunner
from pagerbridge.updates.config import WatcherConfig
from pagerbridge.updates.models import CheckResult, RunReport
from pagerbridge.updates.notifiers.apprise_notify import AppriseNotifier, apprise_url
from pagerbridge.updates.notifiers.pagerduty import (
    Delivery,
    PagerDutyNotifier,
    dedup_key_for,
    options_from,
)
from pagerbridge.updates.notifiers.policy import Policy
from pagerbridge.updates.state import StateFile, default_state_path

log = logging.getLogger(__name__)

EXIT_CLEAN = 0
EXIT_UPDATES = 1
EXIT_PARTIAL_FAILURE = 2
EXIT_ALL_FAILED = 3
EXIT_CONFIG = 4

PAGERDUTY_PARTIAL_NOTICE = (
    "pagerduty: skipped, a partial run (--only, other watchers not checked) "
    "does not change the host's alert"
)


def run_checks(
    config: WatcherConfig, runner: CommandRunner, *, only: str | None = None
) -> RunReport:
    """Every enabled checker (or just ``only``); an error in one is recorded, the rest still run.
    The report is partial only when an enabled watcher did not run: ``only`` naming the one
    enabled type is a full run."""
    report = RunReport(config.hostname)
    if only is not None:
        others = (w.type for w in config.enabled_watchers() if w.type != only)
        report.not_checked = list(dict.fromkeys(others))
    for entry in config.enabled_watchers(only):
        result = CheckResult(entry.type)
        try:
            checker = CHECKERS[entry.type].from_options(entry.options, runner)
            result.updates = checker.check()
        except CheckerError as exc:
            result.error = str(exc)
        except Exception as exc:  # a parser bug must not hide the other checkers' results
            log.debug("checker %s crashed", entry.type, exc_info=True)
            result.error = f"unexpected {type(exc).__name__}: {exc}"
        report.results.append(result)
    return report


def exit_code(report: RunReport) -> int:
    if report.results and len(report.failures) == len(report.results):
        return EXIT_ALL_FAILED
    if report.failures:
        return EXIT_PARTIAL_FAILURE
    return EXIT_UPDATES if report.updates else EXIT_CLEAN


@dataclass
class NotifyOutcome:
    """Per notifier: what it did (for the CLI's report)."""

    lines: list[str] = field(default_factory=list)
    pagerduty: list[Delivery] = field(default_factory=list)
    failed: int = 0


def notify_all(
    config: WatcherConfig,
    report: RunReport,
    *,
    database_url: str | None = None,
    state_path: Path | None = None,
) -> NotifyOutcome:
    """Send to every enabled notifier according to its send_policy and min_priority."""
    outcome = NotifyOutcome()
    settings = config.settings
    db = resolve_database_url(database_url or settings.database)
    state: StateFile | None = None
    for entry in config.enabled_notifiers():
        policy = Policy.for_entry(entry, settings)
        if entry.type == "pagerduty":
            if report.partial:
                # The host's one alert must reflect the whole host: a partial report would
                # resolve it or replace its summary with a fraction of the truth.
                outcome.lines.append(PAGERDUTY_PARTIAL_NOTICE)
                continue
            if state is None:
                state = StateFile(state_file(config, state_path), config.hostname)
            notifier = PagerDutyNotifier(
                options_from(entry.options),
                policy,
                database_url=db,
                state=state,
                delivery_timeout=settings.delivery_timeout,
            )
            delivery = notifier.notify(report)
            if delivery is None:
                outcome.lines.append("pagerduty: nothing to send")
                continue
            outcome.pagerduty.append(delivery)
            if delivery.delivered:
                status = "delivered"
            elif delivery.state == "dead":
                outcome.failed += 1
                status = f"rejected by PagerDuty ({delivery.error}); see `pd-queue`"
            else:
                status = "queued (the next run or the agent delivers it)"
            action = f"{delivery.action} {delivery.dedup_key}"
            outcome.lines.append(f"pagerduty: {action}: {status}")
            continue
        sender = AppriseNotifier(entry.type, apprise_url(entry.type, entry.options), policy)
        sent = sender.notify(report)
        if sent is None:
            outcome.lines.append(f"{entry.type}: nothing to send")
        elif sent:
            outcome.lines.append(f"{entry.type}: sent")
        else:
            outcome.failed += 1
            outcome.lines.append(f"{entry.type}: sending failed (see --verbose)")
    return outcome


def state_file(config: WatcherConfig, override: Path | None = None) -> Path:
    return override or Path(config.settings.state_file or default_state_path())


def alert_keys(config: WatcherConfig) -> set[str]:
    """The state keys of the alerts this host's PagerDuty notifiers open (enabled or not: a
    notifier disabled since still left its alert open)."""
    keys = set()
    for entry in config.notifiers:
        if entry.type != "pagerduty":
            continue
        try:
            options = options_from(entry.options)
        except ValueError:  # a disabled entry need not be valid (pydantic's error is one)
            continue
        keys.add(StateFile.key(options.routing_key, dedup_key_for(config.hostname, options)))
    return keys


def default_runner(config: WatcherConfig) -> CommandRunner:
    return SubprocessRunner(timeout=config.settings.command_timeout)


def report_json(report: RunReport, outcome: NotifyOutcome | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "hostname": report.hostname,
        "total_updates": len(report.updates),
        "security_updates": report.security_count,
        "exit_code": exit_code(report),
        "partial": report.partial,
        "checkers": [
            {
                "checker": r.checker,
                "ok": not r.failed,
                "error": r.error,
                "updates": [u.as_dict() for u in r.updates],
            }
            for r in report.results
        ],
    }
    if report.partial:
        data["not_checked"] = report.not_checked
    if outcome is not None:
        data["notifications"] = outcome.lines
    return data


def report_text(report: RunReport, *, verbose: bool = False) -> list[str]:
    note = report.partial_note()
    lines = [note] if note else []
    for result in report.results:
        if result.failed:
            lines.append(f"{result.checker}: FAILED - {result.error}")
            continue
        sec = f" ({result.security_count} security)" if result.security_count else ""
        lines.append(f"{result.checker}: {len(result.updates)} update(s){sec}")
        if verbose or len(result.updates) <= 20:
            for u in result.updates:
                mark = "  [security]" if u.security else ""
                current = u.current_version or "?"
                lines.append(f"  {u.package}  {current} -> {u.available_version}{mark}")
    return lines


Runner = Callable[[WatcherConfig], CommandRunner]
