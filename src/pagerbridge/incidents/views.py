"""The incidents REST API: FastAPI routers over :class:`~pagerbridge.incidents.commands.Commands`.

Handlers are plain ``def`` (FastAPI runs them in its thread pool) because the domain uses
SQLAlchemy's synchronous sessions; dependencies are ``async`` so a request hops to a thread once.
Who acted is the request's ``From`` header if given (like PagerDuty's REST API), else the token's
name; the origin of every change made here is ``api``. The state changes (ack, resolve, close,
reopen) are not here: they are plain Starlette routes with their own OpenAPI operations
(:mod:`pagerbridge.server.hot`), declared once, like every route here.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import WithJsonSchema

from pagerbridge.incidents import schemas
from pagerbridge.incidents.commands import Commands
from pagerbridge.incidents.limits import OFFSET_MAX
from pagerbridge.incidents.service import PAGE_DEFAULT, PAGE_MAX

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": schemas.ErrorOut, "description": "Missing or invalid API token"},
    404: {"model": schemas.ErrorOut, "description": "No such incident or service"},
    409: {"model": schemas.ErrorOut, "description": "Illegal transition or conflicting change"},
    413: {"model": schemas.ErrorOut, "description": "Request body larger than 1 MiB"},
    422: {"model": schemas.ErrorOut, "description": "Invalid input"},
    500: {"model": schemas.ErrorOut, "description": "Internal error (details in the hub's log)"},
    503: {"model": schemas.ErrorOut, "description": "Database unavailable; retry later"},
}

REF_SCHEMA: Final = schemas.text(pattern=schemas.INCIDENT_REF, examples=["INC-42"])
REF_DESCRIPTION: Final = "The incident: `INC-<n>` (also accepted: `inc-<n>`, `<n>`)"
FROM_SCHEMA: Final = schemas.text(examples=["alice@example.com"])
FROM_DESCRIPTION: Final = (
    "Who acts, as in PagerDuty's REST API (a longer value is cut to 255 characters); "
    "default: the API token's name"
)
#: The same parameters as OpenAPI parameter objects, for the plain routes (server.hot).
REF_PARAMETER: Final = {
    "name": "ref",
    "in": "path",
    "required": True,
    "schema": REF_SCHEMA,
    "description": REF_DESCRIPTION,
}
FROM_HEADER: Final = {
    "name": "From",
    "in": "header",
    "required": False,
    "schema": FROM_SCHEMA,
    "description": FROM_DESCRIPTION,
}

#: An incident id in a path; ``inc-12`` and ``12`` are accepted as well.
Ref = Annotated[str, WithJsonSchema(REF_SCHEMA), Path(description=REF_DESCRIPTION)]
ServiceName = Annotated[
    str, WithJsonSchema(schemas.text(pattern=schemas.SERVICE_NAME, examples=["db"])), Path()
]
TokenName = Annotated[
    str, WithJsonSchema(schemas.text(pattern=schemas.TOKEN_NAME, examples=["ci-bot"])), Path()
]
SeverityPath = Annotated[str, WithJsonSchema(schemas.severity_schema()), Path()]


def ok(data: Any, status: int = 200) -> JSONResponse:
    """Answer with ``data`` as is: the ``serialize`` shapes already match the response models
    (tests/unit/test_incidents_schemas.py checks that), so FastAPI's second validation is skipped.
    """
    return JSONResponse(data, status_code=status)


async def commands(
    request: Request,
    from_: Annotated[
        str | None,
        WithJsonSchema(FROM_SCHEMA),
        Header(alias="From", description=FROM_DESCRIPTION),
    ] = None,
) -> Commands:
    """The operations for this request's principal (set by the hub's authentication).

    ``async`` although it does no I/O: FastAPI runs sync dependencies in its thread pool, and a
    thread hop per dependency costs more than the work.
    """
    actor = actor_for(request.state.principal, from_)
    listener = getattr(request.app.state, "listener", None)  # the connectors' outbound sync
    return Commands(request.app.state.sessions, actor=actor, origin="api", listener=listener)


def actor_for(principal: str, given: str | None) -> str:
    """Who acted: the ``From`` header if given (as in PagerDuty's REST API), else the token."""
    return given.strip()[:255] if given and given.strip() else principal


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
    def declare(body: schemas.DeclareIn, cmds: Cmds) -> JSONResponse:
        result = cmds.declare(
            title=body.title,
            severity=body.severity,
            services=body.services,
            description=body.description,
            assignee=body.assignee,
            custom_fields=body.custom_fields,
        )
        return ok(result, 201)

    @r.get(
        "/incidents",
        response_model=schemas.IncidentPage,
        tags=["incidents"],
        summary="List incidents, newest first",
    )
    def list_incidents(
        cmds: Cmds,
        status: Annotated[
            str | None,
            WithJsonSchema(schemas.status_schema(synonym=True)),
            Query(description="`acknowledged` is a synonym of `mitigated`"),
        ] = None,
        service: Annotated[
            str | None, WithJsonSchema(schemas.text(pattern=schemas.SERVICE_NAME)), Query()
        ] = None,
        severity: Annotated[str | None, WithJsonSchema(schemas.severity_schema()), Query()] = None,
        limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = PAGE_DEFAULT,
        offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
    ) -> JSONResponse:
        return ok(
            cmds.list_incidents(
                status=status, service_name=service, severity=severity, limit=limit, offset=offset
            )
        )

    @r.get(
        "/incidents/{ref}",
        response_model=schemas.IncidentAnswer,
        tags=["incidents"],
        summary="One incident, with its SLA due times",
    )
    def show(ref: Ref, cmds: Cmds) -> JSONResponse:
        return ok(cmds.show(ref))

    @r.get("/incidents/{ref}/timeline", response_model=schemas.TimelineOut, tags=["incidents"])
    def get_timeline(ref: Ref, cmds: Cmds) -> JSONResponse:
        return ok({"entries": cmds.timeline(ref)})

    @r.post(
        "/incidents/{ref}/notes",
        status_code=201,
        response_model=schemas.EntryOut,
        tags=["incidents"],
    )
    def add_note(ref: Ref, body: schemas.NoteIn, cmds: Cmds) -> JSONResponse:
        return ok(cmds.note(ref, body.body), 201)

    @r.post("/incidents/{ref}/assign", response_model=schemas.IncidentAnswer, tags=["incidents"])
    def assign(ref: Ref, body: schemas.AssignIn, cmds: Cmds) -> JSONResponse:
        return ok(
            cmds.assign(ref, body.assignee, note=body.note, expected_version=body.expected_version)
        )

    @r.get("/services", response_model=schemas.ServiceList, tags=["services"])
    def list_services(cmds: Cmds) -> JSONResponse:
        return ok({"services": cmds.service_list()})

    @r.post("/services", status_code=201, response_model=schemas.ServiceOut, tags=["services"])
    def add_service(body: schemas.ServiceIn, cmds: Cmds) -> JSONResponse:
        created = cmds.service_add(
            body.name,
            description=body.description,
            owner_team=body.owner_team,
            default_severity=body.default_severity,
        )
        return ok(created, 201)

    @r.get("/services/{name}", response_model=schemas.ServiceOut, tags=["services"])
    def show_service(name: ServiceName, cmds: Cmds) -> JSONResponse:
        return ok(cmds.service_show(name))

    @r.delete("/services/{name}", status_code=204, tags=["services"])
    def remove_service(name: ServiceName, cmds: Cmds) -> Response:
        cmds.service_remove(name)
        return Response(status_code=204)

    @r.get("/sla", response_model=schemas.SlaList, tags=["sla"])
    def sla_show(cmds: Cmds) -> JSONResponse:
        return ok({"policies": cmds.sla_show()})

    @r.put("/sla/{severity}", response_model=schemas.SlaOut, tags=["sla"])
    def sla_set(severity: SeverityPath, body: schemas.SlaIn, cmds: Cmds) -> JSONResponse:
        return ok(cmds.sla_set(severity, ack=body.ack, resolve=body.resolve))

    @r.post(
        "/sla/check",
        response_model=schemas.BreachList,
        tags=["sla"],
        summary="Record SLA breaches now (the hub also does this periodically)",
    )
    def sla_check(cmds: Cmds) -> JSONResponse:
        return ok({"breaches": cmds.sla_check()})

    @r.get("/tokens", response_model=schemas.TokenList, tags=["tokens"])
    def token_list(cmds: Cmds) -> JSONResponse:
        return ok({"tokens": cmds.token_list()})

    @r.post("/tokens", status_code=201, response_model=schemas.TokenCreated, tags=["tokens"])
    def token_create(body: schemas.TokenIn, cmds: Cmds) -> JSONResponse:
        return ok(cmds.token_create(body.name), 201)

    @r.delete("/tokens/{name}", status_code=204, tags=["tokens"])
    def token_revoke(name: TokenName, request: Request, cmds: Cmds) -> Response:
        cmds.token_revoke(name)
        request.app.state.auth.forget(name)
        return Response(status_code=204)

    return r
