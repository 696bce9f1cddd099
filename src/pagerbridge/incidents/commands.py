"""One transaction per user-level command, returning the JSON shapes of ``serialize``.

The CLI's local mode and the REST API both call these, so they behave identically: same
validation, same messages, same output. Database failures are converted here, at one boundary,
by cause (:mod:`dberrors`): a value the database refuses is InvalidInputError, a lost race a
ConflictError, a lost connection or a timeout a StorageError, anything else a StoreError.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from pagerbridge.errors import ConflictError
from pagerbridge.incidents import catalog, changes, dberrors, serialize, service, sla, timeline
from pagerbridge.incidents.hooks import ChangeListener, IncidentChange
from pagerbridge.incidents.lifecycle import format_ref, parse_origin, parse_severity
from pagerbridge.incidents.limits import NAME_MAX_CHARS, check_text
from pagerbridge.store.engine import redact_url

#: A declaration naming a new service can lose the race to create it; the retry finds it.
DECLARE_ATTEMPTS = 3


class IncidentCommands(Protocol):
    """What ``im`` asks of its backend: :class:`Commands` on the database, or
    ``pagerbridge.cli.im_remote.RemoteCommands`` over a hub's API (``im --server``).

    Why: the CLI holds either through this type, so a method one of them lacks is a mypy error
    where the backend is chosen, not an AttributeError under ``im --server`` at run time.
    """

    def declare(
        self,
        *,
        title: str,
        severity: str | None,
        services: Sequence[str] = ...,
        description: str = ...,
        assignee: str | None = ...,
        custom_fields: Mapping[str, Any] | None = ...,
    ) -> dict[str, Any]: ...

    def transition(
        self, ref: str, action: str, *, note: str | None = ..., expected_version: int | None = ...
    ) -> dict[str, Any]: ...

    def note(self, ref: str, body: str) -> dict[str, Any]: ...

    def assign(
        self,
        ref: str,
        assignee: str | None,
        *,
        note: str | None = ...,
        expected_version: int | None = ...,
    ) -> dict[str, Any]: ...

    def list_incidents(
        self,
        *,
        status: str | None = ...,
        service_name: str | None = ...,
        severity: str | None = ...,
        limit: int = ...,
        offset: int = ...,
    ) -> dict[str, Any]: ...

    def show(self, ref: str) -> dict[str, Any]: ...

    def timeline(self, ref: str) -> list[dict[str, Any]]: ...

    def service_add(
        self,
        name: str,
        *,
        description: str = ...,
        owner_team: str | None = ...,
        default_severity: str = ...,
    ) -> dict[str, Any]: ...

    def service_list(self) -> list[dict[str, Any]]: ...

    def service_show(self, name: str) -> dict[str, Any]: ...

    def service_remove(self, name: str) -> None: ...

    def sla_show(self) -> list[dict[str, Any]]: ...

    def sla_set(
        self, severity: str, *, ack: str | None = ..., resolve: str | None = ...
    ) -> dict[str, Any]: ...

    def sla_check(self) -> list[dict[str, Any]]: ...

    def token_create(self, name: str) -> dict[str, Any]: ...

    def token_list(self) -> list[dict[str, Any]]: ...

    def token_revoke(self, name: str) -> None: ...


class Commands:
    """The incident operations for one actor and origin, over a session factory (an
    :class:`IncidentCommands`).

    (API-token operations import ``tokens`` lazily: hashlib and secrets are not needed to declare.)
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        actor: str,
        origin: str,
        now: datetime | None = None,
        listener: ChangeListener | None = None,
    ) -> None:
        self.sessions = sessions
        #: Told of every change inside its transaction (the connectors' outbound sync).
        self.listener = listener
        self.actor = check_text("actor", actor.strip() or "unknown")[:NAME_MAX_CHARS]
        self.origin = parse_origin(origin)
        self.now = now

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self._converted(), self.sessions.begin() as session:
            yield session

    @contextmanager
    def _core_tx(self) -> Iterator[Connection]:
        """A transaction without an ORM session, for the Core hot paths (:mod:`changes`)."""
        engine: Engine = self.sessions.kw["bind"]
        with self._converted(), engine.begin() as conn:
            yield conn

    @contextmanager
    def _converted(self) -> Iterator[None]:
        try:
            yield
        except (SQLAlchemyError, OverflowError, UnicodeEncodeError) as exc:
            # OverflowError, UnicodeEncodeError: sqlite3 refusing a value before SQL runs.
            url = redact_url(str(self.sessions.kw["bind"].url))
            raise dberrors.convert(exc, url) from exc

    def _who(self) -> dict[str, Any]:
        return {"actor": self.actor, "origin": self.origin, "now": self.now}

    def _tell(self, conn: Connection, changed: changes.Changed, action: str | None = None) -> None:
        if self.listener is not None:
            entry = changed.entry
            self.listener.after_change(
                conn,
                IncidentChange(
                    incident_id=changed.incident["id"],
                    kind=entry["kind"],
                    entry_id=entry["id"],
                    origin=self.origin,
                    action=action,
                ),
            )

    # incidents -------------------------------------------------------------------------------

    def declare(
        self,
        *,
        title: str,
        severity: str | None,
        services: Sequence[str] = (),
        description: str = "",
        assignee: str | None = None,
        custom_fields: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Declare; retried when a concurrent declaration created one of the new services first."""
        for attempt in range(1, DECLARE_ATTEMPTS + 1):
            try:
                with self._tx() as s:
                    d = service.declare(
                        session=s,
                        title=title,
                        severity=severity,
                        services=services,
                        description=description,
                        assignee=assignee,
                        custom_fields=custom_fields,
                        **self._who(),
                    )
                    if self.listener is not None:
                        first = timeline.entries(session=s, incident_id=d.incident.id)[0]
                        self.listener.after_change(
                            s.connection(),
                            IncidentChange(d.incident.id, "declared", first.id, self.origin),
                        )
                    return {
                        **serialize.answer(serialize.incident(d.incident)),
                        "created_services": d.created_services,
                    }
            except ConflictError as exc:
                if attempt == DECLARE_ATTEMPTS or not isinstance(exc.__cause__, IntegrityError):
                    raise
        raise AssertionError("unreachable")

    def transition(
        self, ref: str, action: str, *, note: str | None = None, expected_version: int | None = None
    ) -> dict[str, Any]:
        with self._core_tx() as conn:
            changed = changes.transition(
                conn,
                ref=ref,
                action=action,
                note=note,
                expected_version=expected_version,
                **self._who(),
            )
            self._tell(conn, changed, action)
        return serialize.answer(serialize.incident_values(changed.incident))

    def note(self, ref: str, body: str) -> dict[str, Any]:
        with self._core_tx() as conn:
            changed = changes.add_note(conn, ref=ref, body=body, **self._who())
            self._tell(conn, changed)
        return serialize.entry_values(changed.entry)

    def assign(
        self,
        ref: str,
        assignee: str | None,
        *,
        note: str | None = None,
        expected_version: int | None = None,
    ) -> dict[str, Any]:
        with self._core_tx() as conn:
            changed = changes.assign(
                conn,
                ref=ref,
                assignee=assignee,
                note=note,
                expected_version=expected_version,
                **self._who(),
            )
            self._tell(conn, changed)
        return serialize.answer(serialize.incident_values(changed.incident))

    def list_incidents(
        self,
        *,
        status: str | None = None,
        service_name: str | None = None,
        severity: str | None = None,
        limit: int = service.PAGE_DEFAULT,
        offset: int = 0,
    ) -> dict[str, Any]:
        with self._tx() as s:
            page = service.list_incidents(
                session=s,
                status=status,
                service=service_name,
                severity=severity,
                limit=limit,
                offset=offset,
            )
            return {
                "incidents": [serialize.incident(i) for i in page.items],
                "limit": page.limit,
                "offset": page.offset,
                "more": page.more,
            }

    def show(self, ref: str) -> dict[str, Any]:
        with self._tx() as s:
            inc = service.get_incident(session=s, ref=ref)
            target = sla.policies(session=s)[inc.severity]
            return serialize.answer(serialize.incident(inc, sla=target))

    def timeline(self, ref: str) -> list[dict[str, Any]]:
        with self._tx() as s:
            inc = service.get_incident(session=s, ref=ref)
            return [serialize.entry(e) for e in timeline.entries(session=s, incident_id=inc.id)]

    # services --------------------------------------------------------------------------------

    def service_add(
        self,
        name: str,
        *,
        description: str = "",
        owner_team: str | None = None,
        default_severity: str = "SEV-3",
    ) -> dict[str, Any]:
        with self._tx() as s:
            svc = catalog.create_service(
                session=s,
                name=name,
                description=description,
                owner_team=owner_team,
                default_severity=default_severity,
                now=self.now,
            )
            return serialize.service(svc, incidents=0)

    def service_list(self) -> list[dict[str, Any]]:
        with self._tx() as s:
            return [
                serialize.service(x, incidents=catalog.incident_count(session=s, service=x))
                for x in catalog.list_services(session=s)
            ]

    def service_show(self, name: str) -> dict[str, Any]:
        with self._tx() as s:
            svc = catalog.get_service(session=s, name=name)
            return serialize.service(svc, incidents=catalog.incident_count(session=s, service=svc))

    def service_remove(self, name: str) -> None:
        with self._tx() as s:
            catalog.remove_service(session=s, name=name)

    # SLA -------------------------------------------------------------------------------------

    def sla_show(self) -> list[dict[str, Any]]:
        with self._tx() as s:
            return [serialize.sla_target(t) for t in sla.policies(session=s).values()]

    def sla_set(
        self, severity: str, *, ack: str | None = None, resolve: str | None = None
    ) -> dict[str, Any]:
        sev = parse_severity(severity)
        ack_s = sla.parse_duration(ack) if ack else None
        res_s = sla.parse_duration(resolve) if resolve else None
        with self._tx() as s:
            target = sla.set_policy(
                session=s, severity=sev, ack_seconds=ack_s, resolve_seconds=res_s, now=self.now
            )
            return serialize.sla_target(target)

    def sla_check(self) -> list[dict[str, Any]]:
        """Record SLA breaches now (what the hub does periodically); returns the new ones."""
        with self._tx() as s:
            return [
                {
                    "incident": format_ref(b.incident_id),
                    "sla": b.sla,
                    "due_at": serialize.iso(b.due_at),
                }
                for b in sla.check_sla(session=s, now=self.now, listener=self.listener)
            ]

    # API tokens ------------------------------------------------------------------------------

    def token_create(self, name: str) -> dict[str, Any]:
        from pagerbridge.incidents import tokens

        with self._tx() as s:
            row, secret = tokens.create_token(session=s, name=name, now=self.now)
            return {**serialize.token(row), "token": secret}

    def token_list(self) -> list[dict[str, Any]]:
        from pagerbridge.incidents import tokens

        with self._tx() as s:
            return [serialize.token(t) for t in tokens.list_tokens(session=s)]

    def token_revoke(self, name: str) -> None:
        from pagerbridge.incidents import tokens

        with self._tx() as s:
            tokens.revoke_token(session=s, name=name, now=self.now)
