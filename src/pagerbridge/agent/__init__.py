"""The local agent: an Events-API-v2-compatible endpoint that answers 202 only once an event is
durable, and delivers it through the outbox (see docs/agent.md).

One idea per module:

- ``config``       the YAML configuration (pydantic), its loader and the start-up security check
- ``maintenance``  maintenance windows (time ranges and matchers; injected clock)
- ``auth``         the shared token between agents and clients
- ``intake``       request body → validated row → group commit → PagerDuty-style verdict
- ``app``          the Starlette routes (/v2/enqueue, /v2/change/enqueue, /health, /metrics)
- ``metrics``      Prometheus metrics, and the delivery worker's metrics hooks
- ``forward``      edge → hub delivery to another agent
- ``selfmonitor``  paging about the agent itself (dead letters, stale backlog)
- ``runtime``      an ``Agent`` assembled from its configuration
- ``serving``      several uvicorn servers in one event loop, one signal handler, ordered shutdown
- ``testing``      helpers for tests (a real agent in a thread or a subprocess)
- ``chaos``        the kill -9 harness of the e2e test and the soak benchmark

Importing this package imports nothing else; entry points import the module they need.
"""
