"""One exit-code table for every pagerbridge tool (pagerbridge, im, pd-send, pd-queue,
update-watcher), so a script that checks ``$?`` learns the same thing from each of them.

Printed at the end of every ``--help`` (:func:`epilog`) and in docs/architecture.md. Two
documented exceptions stay, because scripts and monitoring systems already depend on them:
``pd-send`` keeps pdagent's codes (3 queue full, 4 cannot store), and ``update-watcher run``
answers with its result (1 = updates found, 2 some checkers failed, 3 all failed).

Nothing is imported when this module loads: ``pd-send`` (whose start-up is the product) and
``im``'s lean parser load it on every run.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (pd-send's start-up)
if TYPE_CHECKING:
    from collections.abc import Sequence

OK = 0
ERROR = 1
USAGE = 2
NOT_FOUND = 3
CONFIG = 4
CONFLICT = 5
AUTH = 6
UNAVAILABLE = 69  # sysexits EX_UNAVAILABLE
INTERNAL = 70  # sysexits EX_SOFTWARE
STORAGE = 74  # sysexits EX_IOERR
INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C

#: (code, meaning), the same in every tool.
TABLE: tuple[tuple[int, str], ...] = (
    (OK, "ok"),
    (ERROR, "error (e.g. cannot listen: the address is in use)"),
    (USAGE, "usage or invalid input"),
    (NOT_FOUND, "not found (incident, service, token, queue row)"),
    (CONFIG, "configuration error (file, line and key on stderr)"),
    (CONFLICT, "illegal transition or conflict"),
    (AUTH, "the server refused the token"),
    (UNAVAILABLE, "a server cannot be reached"),
    (INTERNAL, "internal error (a bug: please report it)"),
    (STORAGE, "database unavailable, not writable, or its schema not current"),
    (INTERRUPTED, "interrupted (Ctrl-C)"),
)

#: Documented exceptions: (code, meaning) that replace the table's row in that tool or command.
EXCEPTIONS: dict[str, tuple[tuple[int, str], ...]] = {
    "pd-send": (
        (OK, "stored (or handed to the agent)"),
        (USAGE, "invalid event or usage"),
        (NOT_FOUND, "queue full"),
        (CONFIG, "cannot store: the database cannot be written and the agent cannot take it"),
    ),
    "update-watcher run": (
        (OK, "no updates"),
        (ERROR, "updates found"),
        (USAGE, "some checkers failed"),
        (NOT_FOUND, "every checker failed"),
        (INTERNAL, "an error other than configuration or storage (1 means updates found)"),
    ),
}

#: Why each exception exists, printed under its rows.
_WHY = {
    "pd-send": "pdagent's codes, kept so existing monitoring integrations keep working",
    "update-watcher run": "the result of the run; cron and systemd read it",
}

# pdagent-integrations' drop-ins store through pd-send's path, so they keep its (pdagent's) codes.
for _tool in ("pd-nagios", "pd-zabbix", "pd-sensu"):
    EXCEPTIONS[_tool] = EXCEPTIONS["pd-send"]
    _WHY[_tool] = _WHY["pd-send"]


def rows(command: str = "") -> list[tuple[int, str]]:
    """The table as ``command`` (``"pd-send"``, ``"update-watcher run"``, ...) uses it."""
    replaced = dict(EXCEPTIONS.get(command, ()))
    return [(code, replaced.get(code, meaning)) for code, meaning in TABLE]


def epilog(command: str = "") -> str:
    """The exit-code table for the end of ``--help``, with the exceptions of ``command`` and of
    its subcommands (``update-watcher`` shows ``update-watcher run``'s)."""
    lines = ["Exit codes (the same in every pagerbridge tool):"]
    lines += [f"  {code:<4} {meaning}" for code, meaning in TABLE]
    for name, replaced in EXCEPTIONS.items():
        if command and (name == command or name.startswith(command + " ")):
            lines.append(f"{name} differs ({_WHY[name]}):")
            lines += [f"  {code:<4} {meaning}" for code, meaning in replaced]
    return "\n".join(lines)


def code_for(exc: BaseException) -> int:
    """The exit code of one of pagerbridge's own errors (anything else is :data:`INTERNAL`)."""
    from pagerbridge import errors
    from pagerbridge.incidents import errors as incident_errors

    mapping: Sequence[tuple[tuple[type[BaseException], ...], int]] = (
        ((errors.ConfigError, errors.SecretKeyError), CONFIG),
        ((incident_errors.InvalidInputError, errors.EventValidationError), USAGE),
        (
            (
                errors.IncidentNotFoundError,
                incident_errors.ServiceNotFoundError,
                incident_errors.TokenNotFoundError,
                errors.ConnectorNotFoundError,
            ),
            NOT_FOUND,
        ),
        (
            (
                errors.IllegalTransitionError,
                errors.ConflictError,
                incident_errors.ServiceInUseError,
                errors.ConnectorExistsError,
            ),
            CONFLICT,
        ),
        ((incident_errors.AuthenticationRequiredError,), AUTH),
        ((errors.TransportError,), UNAVAILABLE),
        ((errors.StoreError,), STORAGE),
        ((KeyboardInterrupt,), INTERRUPTED),
        ((errors.PagerbridgeError,), ERROR),
    )
    for classes, code in mapping:
        if isinstance(exc, classes):
            return code
    return INTERNAL
