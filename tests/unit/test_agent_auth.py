"""The shared token: header forms, constant-time check, loopback exemption, no leak in repr."""

from __future__ import annotations

from pagerbridge.agent.auth import TokenPolicy, presented_token

TOKEN = "correct-horse-battery-staple"


def test_presented_token_forms() -> None:
    assert presented_token({"authorization": f"Bearer {TOKEN}"}) == TOKEN
    assert presented_token({"authorization": f"bearer   {TOKEN} "}) == TOKEN
    assert presented_token({"x-pagerbridge-token": TOKEN}) == TOKEN
    assert presented_token({"authorization": f"Basic {TOKEN}"}) is None
    assert presented_token({}) is None


def test_policy_without_token_allows_everyone() -> None:
    policy = TokenPolicy(None)
    assert not policy.enabled
    assert policy.allows({}, "203.0.113.9")


def test_policy_checks_remote_clients() -> None:
    policy = TokenPolicy(TOKEN)
    assert policy.allows({"authorization": f"Bearer {TOKEN}"}, "203.0.113.9")
    assert policy.allows({"x-pagerbridge-token": TOKEN}, "203.0.113.9")
    assert not policy.allows({"authorization": "Bearer wrong"}, "203.0.113.9")
    assert not policy.allows({"authorization": f"Bearer {TOKEN}x"}, "203.0.113.9")
    assert not policy.allows({}, "203.0.113.9")
    assert not policy.allows({}, None)


def test_loopback_exemption_can_be_turned_off() -> None:
    assert TokenPolicy(TOKEN).allows({}, "127.0.0.1")
    assert TokenPolicy(TOKEN).allows({}, "::1")
    strict = TokenPolicy(TOKEN, loopback_exempt=False)
    assert not strict.allows({}, "127.0.0.1")
    assert strict.allows({"authorization": f"Bearer {TOKEN}"}, "127.0.0.1")


def test_repr_never_shows_the_token() -> None:
    assert TOKEN not in repr(TokenPolicy(TOKEN))
    assert "***" in repr(TokenPolicy(TOKEN))
