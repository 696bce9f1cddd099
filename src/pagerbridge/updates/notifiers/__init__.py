"""Notifiers: PagerDuty through the outbox, everything else through apprise."""

from __future__ import annotations

from pagerbridge.config import SourceMap
from pagerbridge.errors import ConfigError

NOTIFIER_TYPES = (
    "pagerduty",
    "apprise",
    "slack",
    "discord",
    "teams",
    "googlechat",
    "mattermost",
    "rocketchat",
    "webhook",
    "email",
    "ntfy",
    "telegram",
    "pushover",
    "gotify",
    "pushbullet",
)


def validate_notifier(entry: object, smap: SourceMap, where: tuple[str | int, ...]) -> None:
    """Check an enabled notifier entry's options; errors name file, line and key."""
    from pagerbridge.updates.config import Entry, validate_at
    from pagerbridge.updates.notifiers.apprise_notify import URL_BUILDERS, apprise_url
    from pagerbridge.updates.notifiers.pagerduty import PagerDutyOptions

    assert isinstance(entry, Entry)
    dotted = ".".join(str(p) for p in where)
    if entry.type == "pagerduty":
        validate_at(PagerDutyOptions, entry.options, smap, (*where, "options"))
        return
    if entry.type not in URL_BUILDERS:
        raise ConfigError(
            f"unknown notifier type {entry.type!r} (supported: {', '.join(NOTIFIER_TYPES)})",
            file=smap.file,
            line=smap.line_of((*where, "type")),
            key=f"{dotted}.type",
        )
    try:
        apprise_url(entry.type, entry.options)
    except ConfigError as exc:
        key = (
            (*where, "options", exc.key)
            if exc.key and exc.key != "options"
            else (*where, "options")
        )
        raise ConfigError(
            exc.message, file=smap.file, line=smap.line_of(key), key=".".join(str(p) for p in key)
        ) from None


__all__ = ["NOTIFIER_TYPES", "validate_notifier"]
