"""Errors of the incident domain that ``pagerbridge.errors`` does not name.

They subclass :class:`pagerbridge.errors.IncidentError`, so every caller that catches the domain's
errors catches these too. Standard library only.
"""

from __future__ import annotations

from pagerbridge.errors import IncidentError


class InvalidInputError(IncidentError):
    """A value is malformed (severity, incident id, service name, SLA duration, ...)."""


class ServiceNotFoundError(IncidentError):
    """No service with that name."""


class ServiceInUseError(IncidentError):
    """A service that incidents still refer to cannot be removed."""


class TokenNotFoundError(IncidentError):
    """No API token with that name (or it is already revoked)."""


class AuthenticationRequiredError(IncidentError):
    """A request to the hub carried no valid API token."""
