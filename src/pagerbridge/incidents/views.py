"""The incidents REST API: FastAPI routers over :class:`~pagerbridge.incidents.commands.Commands`.

Handlers are plain ``def`` (FastAPI runs them in its thread pool) because the domain uses
SQLAlchemy's synchronous sessions. Who acted is the request's ``From`` header if given (like
PagerDuty's REST API), else the token's name; the origin of every change made here is ``api``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from pagerbridge.incidents import schemas
from pagerbridge.incidents.commands import Commands
from pagerbridge.incidents.service import PAGE_DEFAULT, PAGE_MAX

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": schemas.ErrorOut, "description": "Missing or invalid API token"},
    404: {"model": schemas.ErrorOut, "description": "No such incident or service"},
    409: {"model": schemas.ErrorOut, "description": "Illegal transition or conflicting change"},
    422: {"model": schemas.ErrorOut, "description": "Invalid input"},
}

Ref = Annotated[str, "INC-<n> or <n>"]


def commands(
    request: Request, from_: Annotated[str | None, Header(alias="From")] = None
) -> Commands:
    """The operations for this request's principal (set by the hub's authentication)."""
    principal: str = request.state.principal
    actor = from_.strip()[:255] if from_ and from_.strip() else principal
    return Commands(request.app.state.sessions, actor=actor, origin="api")


Cmds = Annotated[Commands, Depends(commands)]


def build_router() -> APIRouter:
    """All incident-domain routes, to mount under ``/api/v1``."""
    r = APIRouter(responses=ERRORS)

    @r.post(
        "/incidents",
        status_code=201,
        response_model=schemas.DeclaredOut,
        tags=["incidents"],
        summary="Declare an incident",
    )
    def declare(body: schemas.DeclareIn, cmds: Cmds) -> dict[str, Any]:
        return cmds.declare(
            title=body.title,
            severity=body.severity,
            services=body.services,
            description=body.description,
            assignee=body.assignee,
            custom_fields=body.custom_fields,
        )

    @r.get(
        "/incidents",
        response_model=schemas.IncidentPage,
        tags=["incidents"],
        summary="List incidents, newest first",
    )
    def list_incidents(
        cmds: Cmds,
        status: str | None = None,
        service: str | None = None,
        severity: str | None = None,
        limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = PAGE_DEFAULT,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        return cmds.list_incidents(
            status=status, service_name=service, severity=severity, limit=limit, offset=offset
        )

    @r.get("/incidents/{ref}", response_model=schemas.IncidentOut, tags=["incidents"])
    def show(ref: Ref, cmds: Cmds) -> dict[str, Any]:
        return cmds.show(ref)

    @r.get("/incidents/{ref}/timeline", response_model=schemas.TimelineOut, tags=["incidents"])
    def get_timeline(ref: Ref, cmds: Cmds) -> dict[str, Any]:
        return {"entries": cmds.timeline(ref)}

    def _transition(action: str, summary: str) -> None:
        def handler(ref: Ref, cmds: Cmds, body: schemas.TransitionIn | None = None) -> Any:
            body = body or schemas.TransitionIn()
            return cmds.transition(
                ref, action, note=body.note, expected_version=body.expected_version
            )

        handler.__name__ = action
        r.post(
            f"/incidents/{{ref}}/{action}",
            response_model=schemas.IncidentOut,
            tags=["incidents"],
            summary=summary,
        )(handler)

    _transition("ack", "Acknowledge (open → mitigated)")
    _transition("resolve", "Resolve (open/mitigated → resolved)")
    _transition("close", "Close (resolved → closed)")
    _transition("reopen", "Reopen (resolved/closed → open)")

    @r.post(
        "/incidents/{ref}/notes",
        status_code=201,
        response_model=schemas.EntryOut,
        tags=["incidents"],
    )
    def add_note(ref: Ref, body: schemas.NoteIn, cmds: Cmds) -> dict[str, Any]:
        return cmds.note(ref, body.body)

    @r.post("/incidents/{ref}/assign", response_model=schemas.IncidentOut, tags=["incidents"])
    def assign(ref: Ref, body: schemas.AssignIn, cmds: Cmds) -> dict[str, Any]:
        return cmds.assign(
            ref, body.assignee, note=body.note, expected_version=body.expected_version
        )

    @r.get("/services", response_model=schemas.ServiceList, tags=["services"])
    def list_services(cmds: Cmds) -> dict[str, Any]:
        return {"services": cmds.service_list()}

    @r.post("/services", status_code=201, response_model=schemas.ServiceOut, tags=["services"])
    def add_service(body: schemas.ServiceIn, cmds: Cmds) -> dict[str, Any]:
        return cmds.service_add(
            body.name,
            description=body.description,
            owner_team=body.owner_team,
            default_severity=body.default_severity,
        )

    @r.get("/services/{name}", response_model=schemas.ServiceOut, tags=["services"])
    def show_service(name: str, cmds: Cmds) -> dict[str, Any]:
        return cmds.service_show(name)

    @r.delete("/services/{name}", status_code=204, tags=["services"])
    def remove_service(name: str, cmds: Cmds) -> Response:
        cmds.service_remove(name)
        return Response(status_code=204)

    @r.get("/sla", response_model=schemas.SlaList, tags=["sla"])
    def sla_show(cmds: Cmds) -> dict[str, Any]:
        return {"policies": cmds.sla_show()}

    @r.put("/sla/{severity}", response_model=schemas.SlaOut, tags=["sla"])
    def sla_set(severity: str, body: schemas.SlaIn, cmds: Cmds) -> dict[str, Any]:
        return cmds.sla_set(severity, ack=body.ack, resolve=body.resolve)

    @r.get("/tokens", response_model=schemas.TokenList, tags=["tokens"])
    def token_list(cmds: Cmds) -> dict[str, Any]:
        return {"tokens": cmds.token_list()}

    @r.post("/tokens", status_code=201, response_model=schemas.TokenCreated, tags=["tokens"])
    def token_create(body: schemas.TokenIn, cmds: Cmds) -> dict[str, Any]:
        return cmds.token_create(body.name)

    @r.delete("/tokens/{name}", status_code=204, tags=["tokens"])
    def token_revoke(name: str, request: Request, cmds: Cmds) -> Response:
        cmds.token_revoke(name)
        request.app.state.auth.forget(name)
        return Response(status_code=204)

    return r
