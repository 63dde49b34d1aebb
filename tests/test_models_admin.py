"""The queryset API, user deletion, the admin, and the services without HTTP."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from django_token_sessions import services
from django_token_sessions.device import ClientInfo
from django_token_sessions.models import DeviceSession
from tests.support.clients import bearer

pytestmark = pytest.mark.django_db


def test_queryset_active_for_user_and_bulk_revoke(user, make_user):
    bob = make_user("bob")
    mine = [services.create_session(user).session_id for _ in range(3)]
    services.create_session(bob)
    DeviceSession.objects.filter(pk=mine[0]).update(
        revoked_at=timezone.now(), revoke_reason="admin"
    )

    assert set(DeviceSession.objects.for_user(user).active().values_list("pk", flat=True)) == set(
        mine[1:]
    )
    assert DeviceSession.objects.for_user(user).revoke("admin") == 2
    assert DeviceSession.objects.for_user(user.pk).active().count() == 0
    assert DeviceSession.objects.for_user(bob).active().count() == 1


def test_services_work_without_http(user):
    issued = services.create_session(
        user, client=ClientInfo(ip_address="192.0.2.1", user_agent="curl/8.5.0"), name="CLI"
    )
    assert issued.session is not None
    assert issued.session.display_name == "CLI"
    rotated = services.rotate_refresh_token(issued.tokens.refresh)
    assert rotated.session_id == issued.session_id
    assert services.logout_everywhere(user) == 1


def test_a_rolled_back_revocation_leaves_the_session_alive(user, login):
    body = login(user)

    def revoke_then_fail():
        with transaction.atomic():
            services.logout_everywhere(user)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        revoke_then_fail()
    assert bearer(body["access"]).get("/api/me/").status_code == 200
    assert DeviceSession.objects.get().revoked_at is None


def test_deleting_a_user_deletes_their_sessions(user, login):
    login(user)
    user.delete()
    assert not DeviceSession.objects.exists()


def test_admin_user_delete_just_works(user, login, make_user, admin_client):
    login(user)
    client = admin_client
    opts = get_user_model()._meta
    url = f"/admin/{opts.app_label}/{opts.model_name}/{user.pk}/delete/"
    assert client.get(url).status_code == 200
    response = client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not get_user_model().objects.filter(pk=user.pk).exists()
    assert not DeviceSession.objects.exists()


def test_admin_revoke_action_goes_through_the_services(user, login, admin_client):
    body = login(user)
    client = admin_client
    url = "/admin/token_sessions/devicesession/"
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {"action": "revoke_selected", "_selected_action": [body["session"]["id"]]},
        follow=True,
    )
    assert response.status_code == 200
    assert "1 session was revoked." in response.content.decode()
    assert DeviceSession.objects.get().revoke_reason == "admin"
    assert bearer(body["access"]).get("/api/me/").json()["code"] == "session_revoked"
    # Sessions are created by logins only, and never edited by hand.
    assert client.get(url + "add/").status_code == 403
