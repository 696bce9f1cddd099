"""Chat, mail and webhook notifiers through apprise: Update-Watcher's notifier types mapped to
apprise URLs (``type: apprise`` takes any apprise URL as ``url``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from pagerbridge.errors import ConfigError
from pagerbridge.updates.models import RunReport, Update
from pagerbridge.updates.notifiers.policy import Policy, cut_short, summary_line

#: Most updates listed in a chat message, shared between checkers; the rest are counted.
MAX_LISTED = 50


def _need(options: Mapping[str, Any], *keys: str) -> list[str]:
    values = []
    for key in keys:
        value = options.get(key)
        if value in (None, ""):
            raise ConfigError(f"option {key!r} is required", key=key)
        values.append(str(value))
    return values


def _native(key: str) -> Callable[[Mapping[str, Any]], str]:
    """Services whose webhook URL apprise understands as is (Slack, Discord, Teams, ...)."""
    return lambda o: _need(o, key)[0]


def _webhook(o: Mapping[str, Any]) -> str:
    (url,) = _need(o, "url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return url  # already an apprise URL (json://, form://, ...)
    scheme = "jsons" if parts.scheme == "https" else "json"
    target = f"{scheme}://{parts.netloc}{parts.path or '/'}"
    query = [parts.query] if parts.query else []
    if o.get("auth_header"):
        query.append("+Authorization=" + quote(str(o["auth_header"]), safe=""))
    method = str(o.get("method", "POST")).upper()
    if method != "POST":
        query.append("method=" + method)
    return target + ("?" + "&".join(query) if query else "")


def _email(o: Mapping[str, Any]) -> str:
    host, sender = _need(o, "smtp_host", "from")
    to = o.get("to") or []
    recipients = ",".join(to if isinstance(to, list) else [str(to)])
    if not recipients:
        raise ConfigError("option 'to' is required", key="to")
    scheme = "mailtos" if o.get("tls", True) else "mailto"
    auth = ""
    if o.get("username"):
        auth = quote(str(o["username"]), safe="")
        if o.get("password"):
            auth += ":" + quote(str(o["password"]), safe="")
        auth += "@"
    port = f":{o['smtp_port']}" if o.get("smtp_port") else ""
    return f"{scheme}://{auth}{host}{port}?from={quote(sender)}&to={quote(recipients)}"


def _ntfy(o: Mapping[str, Any]) -> str:
    (topic,) = _need(o, "topic")
    server = urlsplit(str(o.get("server_url") or "https://ntfy.sh"))
    scheme = "ntfys" if server.scheme == "https" else "ntfy"
    token = f"{o['token']}@" if o.get("token") else ""
    return f"{scheme}://{token}{server.netloc}/{topic}"


URL_BUILDERS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "apprise": _native("url"),
    "slack": _native("webhook_url"),
    "discord": _native("webhook_url"),
    "teams": _native("webhook_url"),
    "googlechat": _native("webhook_url"),
    "mattermost": _native("webhook_url"),
    "rocketchat": _native("webhook_url"),
    "webhook": _webhook,
    "email": _email,
    "ntfy": _ntfy,
    "telegram": lambda o: "tgram://{}/{}".format(*_need(o, "bot_token", "chat_id")),
    "pushover": lambda o: "pover://{1}@{0}".format(*_need(o, "app_token", "user_key")),
    "gotify": lambda o: "{}/{}".format(
        _need(o, "server_url")[0].replace("https://", "gotifys://").replace("http://", "gotify://"),
        _need(o, "token")[0],
    ),
    "pushbullet": lambda o: "pbul://{}".format(*_need(o, "access_token")),
}


def apprise_url(kind: str, options: Mapping[str, Any]) -> str:
    """The apprise URL for a notifier entry; ConfigError when it lacks something or apprise
    does not understand the result."""
    import apprise

    url = URL_BUILDERS[kind](options)
    if apprise.Apprise.instantiate(url) is None:
        raise ConfigError(f"not a usable {kind} target (apprise rejected it)", key="options")
    return url


def fair_shares(counts: Sequence[int], budget: int) -> list[int]:
    """How many of each checker's updates to list within ``budget`` lines: all of a small
    checker's, the rest split evenly among the large ones (max-min fair; an uneven remainder goes
    to the first in run order), so 124 apt updates cannot push npm's 2 out of the message."""
    shares = list(counts)
    if sum(counts) <= budget:
        return shares
    left, large = budget, sorted(range(len(counts)), key=lambda i: counts[i])
    while large and counts[large[0]] <= left // len(large):
        left -= counts[large.pop(0)]
    even, extra = divmod(left, len(large))
    for rank, i in enumerate(sorted(large)):
        shares[i] = even + int(rank < extra)
    return shares


def checker_summary(report: RunReport, updates: list[Update]) -> str:
    """ "apt: 124 (69 security), npm: 2, pip: failed": every checker the run covered, in run
    order, so none is hidden by another's long list."""
    parts = []
    for name in report.checked:
        runs = [r for r in report.results if r.checker == name]
        failed = sum(1 for r in runs if r.failed)
        if failed == len(runs):
            parts.append(f"{name}: failed")
            continue
        mine = [u for u in updates if u.checker == name]
        notes = []
        security = sum(1 for u in mine if u.security)
        if security:
            notes.append(f"{security} security")
        if failed:
            notes.append(f"{failed} of {len(runs)} runs failed")
        parts.append(f"{name}: {len(mine)}" + (f" ({'; '.join(notes)})" if notes else ""))
    return ", ".join(parts)


def _update_lines(updates: list[Update]) -> list[str]:
    """At most MAX_LISTED update lines, shared fairly between checkers and grouped by checker; a
    cut-short checker lists its security updates first, and its unlisted rest is counted under
    its own entries."""
    groups: dict[str, list[Update]] = {}
    for update in updates:
        groups.setdefault(update.checker, []).append(update)
    shares = fair_shares([len(g) for g in groups.values()], MAX_LISTED)
    lines = []
    for (name, group), share in zip(groups.items(), shares, strict=True):
        listed, rest = cut_short(group, share)
        for update in listed:
            mark = " [security]" if update.security else ""
            version = f"{update.current_version} -> {update.available_version}".strip(" ->")
            lines.append(f"- {name}: {update.package} {version}{mark}")
        if rest:
            security = sum(1 for u in rest if u.security)
            more = f"... and {len(rest)} more from {name}"
            lines.append(more + (f" ({security} security)" if security else ""))
    return lines


def message(report: RunReport, updates: list[Update]) -> tuple[str, str]:
    """A title and a plain-text body listing updates by checker (security ones marked). A partial
    run (``--only``) says so in the title and the first line: its reader must not take it for the
    whole host's state. With several checkers, a summary line names each one (and which
    failed), and the listed lines are shared between them, so no checker is hidden."""
    summary = summary_line(report.hostname, updates, len(report.failures))
    note = report.partial_note()
    if note is None:
        title = "Update Watcher: " + summary
        lines: list[str] = []
    else:
        title = f"Update Watcher (partial run: {', '.join(report.checked)} only): {summary}"
        lines = [note]
    if len(report.checked) > 1:
        lines.append(checker_summary(report, updates))
    lines.extend(_update_lines(updates))
    for failure in report.failures:
        lines.append(f"! {failure.checker} failed: {failure.error}")
    if not updates and not report.failures:
        lines.append(
            f"No updates found by {', '.join(report.checked)}."
            if report.partial
            else "Everything is up to date."
        )
    return title, "\n".join(lines)


class AppriseNotifier:
    """One notifier entry; ``notify`` returns whether it sent, raises nothing for a bad send."""

    def __init__(self, kind: str, url: str, policy: Policy) -> None:
        self.kind = kind
        self.url = url
        self.policy = policy

    def should_send(self, report: RunReport) -> bool:
        return (
            bool(report.filtered(self.policy.min_priority)) or self.policy.send_policy == "always"
        )

    def notify(self, report: RunReport) -> bool | None:
        """None when the policy says not to send; else whether apprise delivered."""
        import apprise

        if not self.should_send(report):
            return None
        updates = report.filtered(self.policy.min_priority)
        title, body = message(report, updates)
        sender = apprise.Apprise()
        sender.add(self.url)
        notify_type = (
            apprise.NotifyType.WARNING
            if any(u.security for u in updates)
            else apprise.NotifyType.INFO
        )
        return bool(sender.notify(title=title, body=body, notify_type=notify_type))
