"""A small read-only HTML page at ``/``: services, incidents and their log entries."""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from pagerbridge.sandbox.runtime import Runtime

MAX_INCIDENTS = 50
STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin-bottom:2em}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}"
    ".triggered{color:#b00}.acknowledged{color:#b70}.resolved{color:#080}"
    "small{color:#666}"
)


def _row(*cells: str) -> str:
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


async def index(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    state = runtime.state
    mode = "sink mode (events are counted only)" if runtime.options.sink else "full"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><meta http-equiv='refresh' content='5'>",
        f"<title>pagerbridge sandbox</title><style>{STYLE}</style></head><body>",
        "<h1>pagerbridge sandbox</h1>",
        f"<p>A local PagerDuty ({escape(mode)}). Nothing here reaches PagerDuty. "
        f"Events API: <code>{escape(runtime.options.url)}/v2/enqueue</code>; REST API: "
        f"<code>{escape(runtime.options.url)}</code>. Events received: "
        f"{len(state.arrivals) + state.sink_count}.</p>",
        "<h2>Services</h2><table><tr><th>id</th><th>name</th><th>status</th>"
        "<th>routing keys</th></tr>",
    ]
    keys: dict[str, list[str]] = {}
    for key, integration in state.integrations.items():
        keys.setdefault(integration["service_id"], []).append(key)
    for sid, service in state.services.items():
        parts.append(
            _row(
                escape(sid),
                escape(service["name"]),
                escape(service["status"]),
                "<br>".join(f"<code>{escape(k)}</code>" for k in keys.get(sid, [])),
            )
        )
    parts.append("</table><h2>Incidents</h2>")
    incidents = sorted(state.incidents.values(), key=lambda i: -i["incident_number"])
    if not incidents:
        parts.append("<p>None yet.</p>")
    for incident in incidents[:MAX_INCIDENTS]:
        status = incident["status"]
        parts.append(
            f"<h3>#{incident['incident_number']} {escape(incident['title'])} "
            f"<span class='{escape(status)}'>{escape(status)}</span> "
            f"<small>{escape(incident['id'])} · {escape(incident['service']['summary'])} · "
            f"key {escape(str(incident.get('incident_key')))}</small></h3><table>"
        )
        for entry in state.log_of(incident["id"]):
            parts.append(
                _row(escape(entry["created_at"]), escape(entry["type"]), escape(entry["summary"]))
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return HTMLResponse("".join(parts))
