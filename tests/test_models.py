"""``django_token_sessions.models``: the ``DeviceSession`` queryset API, and a user's
deletion taking their sessions with it.

The admin's pages are tested in tests/test_admin.py, the services in tests/test_services.py,
the hand-written statements of the storage layer in tests/test_storage.py.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from django_token_sessions import services
from django_token_sessions.models import DeviceSession

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


def test_deleting_a_user_deletes_their_sessions(user, login):
    login(user)
    user.delete()
    assert not DeviceSession.objects.exists()
