"""pagerbridge's exceptions: one tree, so callers catch exactly what they mean.

Foreign exceptions (aiohttp, sqlite3, SQLAlchemy, pydantic, YAML) are converted into these at one
boundary each, with ``raise ... from exc``, so a user never sees a library's traceback.

    PagerbridgeError
    ├── ConfigError                  a configuration file or value is wrong (file, line, key)
    ├── PagerDutyError               anything on the wire to or from PagerDuty
    │   ├── EventValidationError     an event breaks the Events API v2 rules (field, message)
    │   ├── TransportError           no HTTP answer: connection refused or reset, timeout, TLS
    │   ├── APIError                 an error status from PagerDuty (status, code, message, errors)
    │   │   ├── AuthenticationError  401: missing or bad token
    │   │   ├── ForbiddenError       403: token lacks the ability or scope
    │   │   ├── NotFoundError        404
    │   │   ├── RateLimitedError     429 (retry_after: seconds to wait)
    │   │   └── ServerError          5xx
    │   ├── PaginationLimitError     offset + limit would pass PagerDuty's 10,000 cap
    │   ├── SignatureError           a webhook's X-PagerDuty-Signature does not verify
    │   └── OAuthError               a token endpoint refused (error, error_description)
    ├── StoreError                   the database
    │   ├── SchemaOutdatedError      the schema is behind the code: run `pagerbridge db upgrade`
    │   ├── QueueFullError           the outbox holds its maximum number of pending rows
    │   └── StorageError             the database cannot be written (permissions, disk full)
    └── IncidentError                the incident domain
        ├── IncidentNotFoundError
        ├── IllegalTransitionError   e.g. acknowledging a resolved incident
        └── ConflictError            a concurrent change won; reload and retry
    └── ConnectorError               the connectors domain
        ├── ConnectorNotFoundError   no connector of that name
        ├── ConnectorExistsError     a connector of that name exists already
        └── SecretKeyError           the secret key is missing, malformed or not the one that
                                     encrypted the stored secrets

This module imports only the standard library: ``pd-send`` loads it on its start-up path.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (pd-send's start-up)
if TYPE_CHECKING:
    from typing import Any


class PagerbridgeError(Exception):
    """Base of every error pagerbridge raises on purpose."""


class ConfigError(PagerbridgeError):
    """A configuration file or value is wrong; says where, so the user can fix it."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "")
        if self.key:
            where = f"{where} ({self.key})" if where else self.key
        return f"{where}: {self.message}" if where else self.message


class PagerDutyError(PagerbridgeError):
    """Anything that went wrong talking to (or pretending to be) PagerDuty."""


class EventValidationError(PagerDutyError):
    """An event breaks an Events API v2 rule; ``errors`` lists every problem found."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(self.errors) or "invalid event")


class TransportError(PagerDutyError):
    """No HTTP answer at all: connection refused or reset, DNS, TLS, or a timeout."""


class APIError(PagerDutyError):
    """PagerDuty answered with an error status; keeps its code, message and errors."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: int | None = None,
        errors: list[str] | None = None,
        body: Any = None,
    ) -> None:
        self.status = status
        self.message = message
        self.code = code
        self.errors = list(errors or [])
        self.body = body
        detail = f"HTTP {status}: {message}"
        if code is not None:
            detail += f" (code {code})"
        if self.errors:
            detail += ": " + "; ".join(self.errors)
        super().__init__(detail)


class AuthenticationError(APIError):
    """401: the token is missing, wrong or expired."""


class ForbiddenError(APIError):
    """403: the token may not do this (ability, scope or role)."""


class NotFoundError(APIError):
    """404: no such resource."""


class RateLimitedError(APIError):
    """429: too many requests; ``retry_after`` is how long PagerDuty asked us to wait."""

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(*args, **kwargs)


class ServerError(APIError):
    """5xx: PagerDuty (or something in front of it) failed; worth retrying."""


class PaginationLimitError(PagerDutyError):
    """Classic pagination stops at offset + limit = 10,000; use filters or cursor pagination."""


class SignatureError(PagerDutyError):
    """A webhook body does not match any ``v1=`` signature for the configured secrets."""


class OAuthError(PagerDutyError):
    """The OAuth token endpoint refused; ``error`` is the RFC 6749 error code."""

    def __init__(self, error: str, description: str = "", status: int | None = None) -> None:
        self.error = error
        self.description = description
        self.status = status
        super().__init__(f"{error}: {description}" if description else error)


class StoreError(PagerbridgeError):
    """The database refused or failed."""


class SchemaOutdatedError(StoreError):
    """The database schema is older than this code; the message says what to run."""


class QueueFullError(StoreError):
    """The outbox already holds its configured maximum of pending rows."""


class StorageError(StoreError):
    """The database cannot be written: permissions, a full disk, a read-only file system."""


class IncidentError(PagerbridgeError):
    """The incident domain refused a change."""


class IncidentNotFoundError(IncidentError):
    """No incident with that id."""


class IllegalTransitionError(IncidentError):
    """The incident's status does not allow this change (e.g. acknowledging a resolved one)."""


class ConflictError(IncidentError):
    """Another change to the same incident committed first; reload and try again."""


class ConnectorError(PagerbridgeError):
    """The connectors domain refused or could not do something."""


class ConnectorNotFoundError(ConnectorError):
    """No connector of that name."""


class ConnectorExistsError(ConnectorError):
    """A connector of that name exists already."""


class SecretKeyError(ConnectorError):
    """The secret key is missing, malformed, or not the key that encrypted the stored secrets."""
