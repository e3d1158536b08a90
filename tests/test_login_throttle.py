"""Log-in is throttled on the desk and the admin (django-axes, failures kept
in the database so every process of either profile counts them): per
username and per address, with a clear 429 page and a reset."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command

from .factories import AuthorFactory

LOGIN = {"desk": "/desk/login/", "admin": "/admin/login/"}


@pytest.fixture(autouse=True)
def _limit(settings):
    settings.AXES_FAILURE_LIMIT = 3


def _try(client, where, username, password, address="203.0.113.7", **extra):
    return client.post(LOGIN[where], {"username": username, "password": password}, REMOTE_ADDR=address, **extra)


def _fail(client, where, username, times, address="203.0.113.7"):
    """Wrong passwords; the one that reaches the limit is answered 429 already."""
    for _ in range(times):
        assert _try(client, where, username, "wrong", address).status_code in {200, 429}


@pytest.fixture
def staff_reporter(reporter):
    reporter.is_staff = True
    reporter.save()
    return reporter


@pytest.mark.parametrize("where", ["desk", "admin"])
def test_a_username_is_paused_after_the_limit_from_any_address(client, staff_reporter, where):
    for address in ["198.51.100.1", "198.51.100.2", "198.51.100.3"]:
        _fail(client, where, "rep", 1, address=address)
    response = _try(client, where, "rep", "pw-for-tests", "198.51.100.99")
    page = response.content.decode()
    assert response.status_code == 429
    assert "Too many failed log-ins" in page and "Try again in 15 minutes" in page
    assert int(response["Retry-After"]) == 15 * 60
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("where", ["desk", "admin"])
def test_an_address_is_paused_after_the_limit_whatever_the_username(client, staff_reporter, where):
    for name in ["alice", "bob", "carol"]:
        _fail(client, where, name, 1, address="192.0.2.50")
    assert _try(client, where, "rep", "pw-for-tests", "192.0.2.50").status_code == 429
    # Another address, the same person: still welcome (the username has no failures).
    assert _try(client, where, "rep", "pw-for-tests", "192.0.2.51").status_code == 302


def test_failures_below_the_limit_are_forgotten_after_a_good_log_in(client, reporter):
    _fail(client, "desk", "rep", 2)
    assert _try(client, "desk", "rep", "pw-for-tests").status_code == 302
    client.logout()
    _fail(client, "desk", "rep", 2)
    assert _try(client, "desk", "rep", "pw-for-tests").status_code == 302


def test_the_reset_command_unlocks_a_username(client, reporter):
    _fail(client, "desk", "rep", 3, address="198.51.100.1")
    assert _try(client, "desk", "rep", "pw-for-tests", "198.51.100.2").status_code == 429
    call_command("axes_reset_username", "rep")
    assert _try(client, "desk", "rep", "pw-for-tests", "198.51.100.2").status_code == 302


def test_an_editor_unlocks_from_the_admin(client, reporter):
    _fail(client, "desk", "rep", 3)
    assert _try(client, "desk", "rep", "pw-for-tests").status_code == 429
    chief = AuthorFactory(user__username="chief", user__is_staff=True, user__is_superuser=True).user
    client.force_login(chief)
    listing = client.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "rep" in listing.content.decode()
    response = client.post("/admin/axes/accessattempt/", {
        "action": "unlock_selected", "_selected_action": list(AccessAttempt.objects.values_list("pk", flat=True)),
    }, follow=True)
    assert "Unlocked" in response.content.decode()
    client.logout()
    assert _try(client, "desk", "rep", "pw-for-tests").status_code == 302


def test_behind_a_trusted_proxy_the_forwarded_address_counts_not_a_spoofed_one(client, reporter, settings):
    settings.LIVEBLOG_PROXY_COUNT = 1
    for spoof in ["10.0.0.1", "10.0.0.2", "10.0.0.3"]:
        _try(client, "desk", f"nobody{spoof}", "wrong", "127.0.0.1", HTTP_X_FORWARDED_FOR=f"{spoof}, 203.0.113.9")
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.9"}
    locked = _try(client, "desk", "rep", "pw-for-tests", "127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert locked.status_code == 429
    other = _try(client, "desk", "rep", "pw-for-tests", "127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.10")
    assert other.status_code == 302
