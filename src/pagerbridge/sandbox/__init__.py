"""The local PagerDuty: Events API v2, REST API v2 subset, outgoing webhooks, OAuth, faults.

Start it with ``pagerbridge sandbox`` or, in tests, ``pagerbridge.sandbox.testing.running_sandbox``.
Depends only on ``pagerbridge.pagerduty`` (shared models and rules), never on the rest.
"""
