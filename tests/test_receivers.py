"""``django_token_sessions.receivers``: what logs a user out everywhere without a call to
the services: a password change (forms, the admin, ``changepassword``, the API, one's own
``set_password()`` and ``save()``), a deactivation, and a change of the user id claim.

The signals the services send are tested in tests/test_signals.py.
"""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm
from django.contrib.auth.models import update_last_login
from django.core.cache import cache
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.test import override_settings

from django_token_sessions import signals
from django_token_sessions.models import DeviceSession, RevocationRecord
from django_token_sessions.revocation import cache as markers
from tests.support.backends import BACKENDS
from tests.support.clients import PASSWORD, bearer, refresh
from tests.support.signals import catch_signal

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a brand new passphrase 42"


def me(access):
    return bearer(access).get("/api/me/").status_code


def me_code(access):
    response = bearer(access).get("/api/me/")
    return response.status_code, response.json().get("code")


def user_marker(user):
    """The user's "not before" revocation marker, or None."""
    return cache.get(markers.user_key(user.pk))


# -- password change ------------------------------------------------------------------------


def _assert_logged_out(bodies, reason="password_changed"):
    user = DeviceSession.objects.get(pk=bodies[0]["session"]["id"]).user
    # One "not before" marker for the user refuses their access tokens in every worker
    # (an inactive user's would be refused later anyway, as user_inactive: the code says
    # the marker answered).
    assert user_marker(user) is not None
    for body in bodies:
        assert me_code(body["access"]) == (401, "session_revoked")
        assert refresh(body["refresh"]).json()["code"] == "session_revoked"
    assert set(DeviceSession.objects.values_list("revoke_reason", flat=True)) == {reason}


def test_set_password_and_save_outside_any_form(user, login):
    bodies = [login(user), login(user)]
    with catch_signal(signals.user_logged_out_everywhere) as sent:
        user.set_password(NEW_PASSWORD)
        user.save()
    _assert_logged_out(bodies)
    assert sent[0]["reason"] == "password_changed"


def test_set_password_with_update_fields(user, login):
    body = login(user)
    user.set_password(NEW_PASSWORD)
    user.save(update_fields=["password"])
    _assert_logged_out([body])


def test_password_change_form(user, login):
    body = login(user)
    form = PasswordChangeForm(
        user,
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert form.is_valid(), form.errors
    form.save()
    _assert_logged_out([body])


def test_set_password_form(user, login):
    body = login(user)
    form = SetPasswordForm(user, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert form.is_valid(), form.errors
    form.save()
    _assert_logged_out([body])


def test_changepassword_command(user, login):
    body = login(user)
    with mock.patch("getpass.getpass", return_value=NEW_PASSWORD):
        call_command("changepassword", user.get_username(), stdout=mock.MagicMock())
    _assert_logged_out([body])


def test_admin_password_change(user, login, admin_client):
    body = login(user)
    client = admin_client
    opts = get_user_model()._meta
    url = f"/admin/{opts.app_label}/{opts.model_name}/{user.pk}/password/"
    data = {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    response = client.post(url, data)
    assert response.status_code == 302, response.content[:2000]
    _assert_logged_out([body])


def test_password_change_through_the_api_logs_out_every_device(user, login):
    this, other = login(user), login(user)
    response = bearer(this["access"]).post(
        "/api/change-password/", {"new_password": NEW_PASSWORD}, format="json"
    )
    assert response.status_code == 204
    _assert_logged_out([this, other])


@override_settings(TOKEN_SESSIONS={"PASSWORD_CHANGE_KEEPS_CURRENT_SESSION": True})
def test_password_change_can_keep_the_session_that_made_it(user, login):
    this, other = login(user), login(user)
    bearer(this["access"]).post(
        "/api/change-password/", {"new_password": NEW_PASSWORD}, format="json"
    )
    assert user_marker(user)["keep"] == this["session"]["id"]
    assert me(this["access"]) == 200
    assert me_code(other["access"]) == (401, "session_revoked")
    # Outside a request there is no "current" session: everything goes.
    user.refresh_from_db()
    user.set_password("yet another passphrase 7")
    user.save()
    assert me(this["access"]) == 401


@override_settings(TOKEN_SESSIONS={"LOGOUT_ON_PASSWORD_CHANGE": False})
def test_password_trigger_can_be_turned_off(user, login):
    body = login(user)
    user.set_password(NEW_PASSWORD)
    user.save()
    assert user_marker(user) is None
    assert me(body["access"]) == 200


def test_other_saves_do_not_log_out(user, login):
    body = login(user)
    user.first_name = "Alice"
    user.save()
    get_user_model().objects.create_user(username="newcomer", password=PASSWORD)
    assert user_marker(user) is None
    assert me(body["access"]) == 200


# -- deactivation ---------------------------------------------------------------------------


def test_deactivation_by_save(user, login):
    bodies = [login(user), login(user)]
    with catch_signal(signals.user_logged_out_everywhere) as sent:
        user.is_active = False
        user.save()
    _assert_logged_out(bodies, reason="user_deactivated")
    assert (sent[0]["reason"], sent[0]["count"]) == ("user_deactivated", 2)
    # Saving the inactive user again revokes nothing more and alerts nobody.
    with catch_signal(signals.user_logged_out_everywhere) as again:
        user.save()
    assert again == []


def test_deactivation_in_the_admin(user, login, admin_client, django_capture_on_commit_callbacks):
    body = login(user)
    client = admin_client
    opts = get_user_model()._meta
    url = f"/admin/{opts.app_label}/{opts.model_name}/{user.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k != "password"}
    data.update(
        {"username": user.username, "is_active": "", "date_joined_0": "2026-01-01",
         "date_joined_1": "00:00:00", "last_login_0": "", "last_login_1": ""}
    )  # fmt: skip
    data.pop("groups", None)
    data.pop("user_permissions", None)
    # The change view runs in a transaction: the marker is written when it commits.
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    user.refresh_from_db()
    assert user.is_active is False
    _assert_logged_out([body], reason="user_deactivated")


@override_settings(TOKEN_SESSIONS={"LOGOUT_ON_DEACTIVATION": False})
def test_deactivation_trigger_can_be_turned_off_but_tokens_still_fail(user, login):
    body = login(user)
    user.is_active = False
    user.save()
    assert DeviceSession.objects.get().revoked_at is None
    assert user_marker(user) is None
    # The inactive user is still refused: by the user check, not by revocation.
    assert bearer(body["access"]).get("/api/me/").json()["code"] == "user_inactive"


# -- a change of the user id claim ----------------------------------------------------------

#: The user id claim is the username: a renamed user's name can be taken by a newcomer.
BY_USERNAME = {"USER_ID_FIELD": "username", "USER_ID_CLAIM": "user_id"}


def me_as(access):
    """(status, username or error code) of ``GET /api/me/``."""
    response = bearer(access).get("/api/me/")
    body = response.json()
    return response.status_code, body.get("username", body.get("code"))


@pytest.mark.parametrize("mode", ["cache", "db"])
def test_a_renamed_users_tokens_never_authenticate_the_next_holder_of_the_name(
    make_user, login, mode
):
    with override_settings(
        SIMPLE_JWT=BY_USERNAME, TOKEN_SESSIONS={"REVOCATION_BACKEND": BACKENDS[mode]}
    ):
        carol = make_user("carol")
        bodies = [login(carol), login(carol)]
        assert me_as(bodies[0]["access"]) == (200, "carol")
        with catch_signal(signals.user_logged_out_everywhere) as sent:
            carol.username = "carol2"
            carol.save()
        newcomer = make_user("carol")  # someone else signs up with the freed name
        # The failure this guards against (cache backends): 200 as the newcomer, the check
        # reading the markers of "carol".
        for body in bodies:
            assert me_as(body["access"]) == (401, "session_revoked")
            # Its claim names another user than the session's now.
            assert refresh(body["refresh"]).json()["code"] == "token_invalid"
        assert set(DeviceSession.objects.filter(user=carol).values_list(
            "revoke_reason", flat=True)) == {"user_id_changed"}  # fmt: skip
        assert (sent[0]["user"], sent[0]["reason"], sent[0]["count"]) == (
            carol,
            "user_id_changed",
            2,
        )
        # The newcomer's own login works, and so does the renamed user's.
        assert me_as(login(newcomer)["access"]) == (200, "carol")
        assert me_as(login(carol)["access"]) == (200, "carol2")
        for body in bodies:
            assert me_as(body["access"]) == (401, "session_revoked")


@override_settings(SIMPLE_JWT={"USER_ID_FIELD": "email", "USER_ID_CLAIM": "user_id"})
def test_a_change_of_the_email_that_is_the_user_id_claim_ends_every_session(make_user, login):
    carol = make_user("carol")
    body = login(carol)
    carol.email = "carol@example.org"
    carol.save(update_fields=["email"])
    # The freed address, taken.
    get_user_model().objects.create_user("mallory", "carol@example.com", PASSWORD)
    assert me_as(body["access"]) == (401, "session_revoked")
    (record,) = RevocationRecord.objects.all()
    assert record.user_claim == "carol@example.com"
    assert cache.get(markers.user_key("carol@example.com")) == {
        "before": record.not_before_ms,
        "keep": None,
    }


def test_with_the_primary_key_as_claim_a_rename_revokes_nothing_and_costs_nothing(
    user, login, django_assert_num_queries
):
    body = login(user)
    user.username = "alice2"
    with django_assert_num_queries(1):  # the UPDATE: no query for the old name
        user.save()
    assert me_as(body["access"]) == (200, "alice2")
    assert refresh(body["refresh"]).status_code == 200
    assert user_marker(user) is None
    assert not RevocationRecord.objects.exists()
    assert DeviceSession.objects.get().revoked_at is None


@override_settings(SIMPLE_JWT=BY_USERNAME)
def test_saves_that_leave_the_claim_alone_revoke_nothing_and_read_it_only_if_they_write_it(
    user, login, django_assert_num_queries
):
    body = login(user)
    with django_assert_num_queries(1):  # save(update_fields=["last_login"]): the UPDATE
        update_last_login(None, user)
    user.first_name = "Alice"
    with django_assert_num_queries(1):
        user.save(update_fields=["first_name"])
    with django_assert_num_queries(2):  # a save of every field reads the old name first
        user.save()
    assert me_as(body["access"]) == (200, "alice")
    assert user_marker(user) is None
    assert not RevocationRecord.objects.exists()


@override_settings(SIMPLE_JWT=BY_USERNAME)
def test_a_rename_that_fails_leaves_nothing_for_the_next_save(make_user, login):
    make_user("bob")
    alice = make_user("alice")
    body = login(alice)
    alice.username = "bob"
    with pytest.raises(IntegrityError), transaction.atomic():
        alice.save()
    alice.first_name = "Alice"
    alice.save(update_fields=["first_name"])  # reads no old name: must revoke nothing
    assert me_as(body["access"]) == (200, "alice")
    assert DeviceSession.objects.get().revoked_at is None


@override_settings(SIMPLE_JWT=BY_USERNAME)
def test_a_rename_with_a_deactivation_or_password_change_still_marks_the_old_name(make_user, login):
    carol = make_user("carol")
    body = login(carol)
    carol.username = "carol2"
    carol.is_active = False
    carol.set_password(NEW_PASSWORD)
    carol.save()
    assert DeviceSession.objects.get().revoke_reason == "user_id_changed"
    assert cache.get(markers.user_key("carol"))["keep"] is None
    make_user("carol")
    assert me_as(body["access"]) == (401, "session_revoked")
