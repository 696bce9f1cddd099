"""Connectors: an incident platform's bridge to PagerDuty (and, later, others).

The arrows: ``cli/`` and ``server/`` → ``connectors/`` → ``incidents/``, ``outbox/``, ``store/``,
``pagerduty/``. Nothing below imports this package.
"""
