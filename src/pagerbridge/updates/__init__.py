"""update-watcher: check a host for pending updates and page (then un-page) PagerDuty.

The pieces, each in its own module:

- ``config``     Update-Watcher-compatible YAML (hostname, watchers, notifiers, settings)
- ``commands``   the injectable command runner every checker uses (real subprocesses by default)
- ``checkers``   one module per tool; each parses the tool's real output into :class:`Update` rows
- ``runner``     runs the enabled checkers, each failing alone, and computes the exit code
- ``notifiers``  PagerDuty through the outbox (trigger / update / resolve), others through apprise
- ``state``      the per-host alert state that lets a clean run resolve what an earlier run opened
- ``schedule``   ``install-cron``: a cron.d job or systemd units that load ``jobenv``'s file and log
- ``jobenv``     the variables a scheduled run needs, saved from the installing shell (0600 file)
"""

from __future__ import annotations

from pagerbridge.updates.models import CheckResult, RunReport, Update

__all__ = ["CheckResult", "RunReport", "Update"]
