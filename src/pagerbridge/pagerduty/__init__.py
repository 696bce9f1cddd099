"""The wire layer: every byte PagerDuty would see or send, and PagerDuty's rules about them.

Modules, cheapest first (the first three import only the standard library, because ``pd-send``
loads them on its start-up path):

- ``limits``        PagerDuty's documented limits and endpoints as named constants.
- ``outcome``       ``Accepted`` / ``Retry`` / ``Rejected`` and ``classify()`` of an HTTP answer.
- ``event_rules``   ``normalise_event()``: the Events API v2 rules, one source for every caller.
- ``webhooks``      v3 webhook signatures (``sign``/``verify``), envelope models, ``parse_webhook``.
- ``webhook_types`` typed ``event.data`` models for the documented v3 event types.
- ``events``        pydantic models for events and the async ``EventsClient``.

This package file imports nothing on purpose: importing ``pagerbridge.pagerduty.event_rules``
must not pull in pydantic or aiohttp.
"""
