"""The service API (``django_token_sessions.services``), called as a view of another
framework calls it: no HTTP, each public function with its rows, signals, revocation
notices and errors.

The same behaviour through the endpoints is in test_views.py, test_rotation.py and
test_revocation.py; the races are in test_concurrency.py.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from django_token_sessions import services, signals
from django_token_sessions.device import ClientInfo
from django_token_sessions.exceptions import (
    SessionNotFound,
    SessionRevoked,
    TokenInvalid,
    TokenReused,
    UserInactive,
    UserNotFound,
)
from django_token_sessions.models import DeviceSession, RevocationRecord, RevokeReason
from django_token_sessions.revocation import RevocationBackend
from django_token_sessions.tokens import decode_access, decode_refresh
from tests.support.clients import FIREFOX_LINUX
from tests.support.signals import catch_signal

pytestmark = pytest.mark.django_db


class Recorder(RevocationBackend):
    """A revocation backend that records what the services tell it."""

    sessions: list[list[str]] = []
    users: list[tuple[str, Any]] = []

    def is_revoked(self, token: Any) -> bool:
        return False

    def sessions_revoked(self, session_ids: Any) -> None:
        self.sessions.append(sorted(str(pk) for pk in session_ids))

    def user_revoked(self, user_claim: Any, before_ms: int, keep_session_id: Any) -> None:
        self.users.append((str(user_claim), keep_session_id and str(keep_session_id)))


@pytest.fixture
def told():
    """What the revocation backend is told, in order."""
    Recorder.sessions, Recorder.users = [], []
    with override_settings(TOKEN_SESSIONS={"REVOCATION_BACKEND": f"{__name__}.Recorder"}):
        yield Recorder


def new(user: Any, **kwargs: Any) -> services.IssuedSession:
    return services.create_session(user, **kwargs)


# -- create_session -----------------------------------------------------------------------


def test_create_session_writes_the_row_and_mints_tokens_naming_it(user):
    client = ClientInfo(ip_address="203.0.113.7", user_agent=FIREFOX_LINUX)
    with catch_signal(signals.session_created) as created:
        issued = new(user, client=client, name="  Work laptop  ")
    session = DeviceSession.objects.get(pk=issued.session_id)
    assert (session.user_id, session.ip_address, session.device_label) == (
        user.pk,
        "203.0.113.7",
        "Firefox on Linux",
    )
    assert session.name == "  Work laptop  "[:100]
    assert session.refresh_jti == issued.tokens.refresh_jti
    assert session.idle_expires_at <= session.absolute_expires_at
    access, refresh = decode_access(issued.tokens.access), decode_refresh(issued.tokens.refresh)
    assert access.session_id == refresh.session_id == issued.session_id
    assert refresh.jti == session.refresh_jti
    assert created == [{"sender": DeviceSession, "session": session, "user": user}]


def test_the_session_cap_evicts_the_oldest_and_tells_the_backend(user, told):
    with override_settings(
        TOKEN_SESSIONS={"MAX_SESSIONS_PER_USER": 2, "REVOCATION_BACKEND": f"{__name__}.Recorder"}
    ):
        first = new(user)
        second = new(user)
        with catch_signal(signals.session_revoked) as revoked:
            third = new(user)
    assert DeviceSession.objects.get(pk=first.session_id).revoke_reason == "session_limit"
    live = set(DeviceSession.objects.active().values_list("pk", flat=True))
    assert live == {second.session_id, third.session_id}
    assert told.sessions == [[str(first.session_id)]]
    assert [(s["session_ids"], s["reason"]) for s in revoked] == [
        ([first.session_id], "session_limit")
    ]


# -- rotate_refresh_token ------------------------------------------------------------------


def test_rotation_returns_a_new_pair_and_moves_the_chain(user):
    issued = new(user)
    with catch_signal(signals.session_rotated) as rotated:
        after = services.rotate_refresh_token(
            issued.tokens.refresh, client=ClientInfo(ip_address="198.51.100.1")
        )
    session = DeviceSession.objects.get(pk=issued.session_id)
    assert after.session_id == issued.session_id
    assert (session.refresh_jti, session.previous_jti) == (
        after.tokens.refresh_jti,
        issued.tokens.refresh_jti,
    )
    assert session.ip_address == "198.51.100.1"
    assert session.rotated_at is not None
    assert [(r["session_id"], str(r["user_id"])) for r in rotated] == [
        (issued.session_id, str(user.pk))
    ]


def test_the_replaced_token_inside_the_grace_window_converges_on_the_current_one(user):
    issued = new(user)
    after = services.rotate_refresh_token(issued.tokens.refresh)
    with catch_signal(signals.session_rotated) as rotated:
        again = services.rotate_refresh_token(issued.tokens.refresh)
    assert again.tokens.refresh_jti == after.tokens.refresh_jti
    assert rotated == []  # nothing changed
    assert DeviceSession.objects.get(pk=issued.session_id).revoked_at is None


def test_a_replay_after_the_grace_window_revokes_the_session(user, told):
    issued = new(user)
    start = timezone.now()
    services.rotate_refresh_token(issued.tokens.refresh)
    with (
        time_machine.travel(start + timedelta(minutes=1)),
        catch_signal(signals.refresh_token_reused) as reused,
        pytest.raises(TokenReused),
    ):
        services.rotate_refresh_token(issued.tokens.refresh)
    session = DeviceSession.objects.get(pk=issued.session_id)
    assert session.revoke_reason == RevokeReason.REUSE_DETECTED
    assert told.sessions == [[str(issued.session_id)]]
    assert [(r["session_id"], r["jti"]) for r in reused] == [
        (issued.session_id, issued.tokens.refresh_jti)
    ]


@pytest.mark.parametrize("raw", ["", "not-a-jwt", None, 42])
def test_rotation_of_garbage_is_token_invalid(raw):
    with pytest.raises(TokenInvalid):
        services.rotate_refresh_token(raw)


def test_rotation_of_a_revoked_session_is_session_revoked(user):
    issued = new(user)
    services.revoke_session(issued.session_id, reason=RevokeReason.ADMIN)
    with pytest.raises(SessionRevoked):
        services.rotate_refresh_token(issued.tokens.refresh)


def test_rotation_for_an_inactive_user_is_user_inactive(user):
    issued = new(user)
    type(user).objects.filter(pk=user.pk).update(is_active=False)  # no receiver runs
    with pytest.raises(UserInactive):
        services.rotate_refresh_token(issued.tokens.refresh)


def test_rotation_of_a_deleted_row_is_session_not_found_or_user_not_found(user, make_user):
    issued = new(user)
    DeviceSession.objects.filter(pk=issued.session_id).delete()
    with pytest.raises(SessionNotFound):
        services.rotate_refresh_token(issued.tokens.refresh)
    bob = make_user("bob")
    bobs = new(bob)
    bob.delete()
    with pytest.raises(UserNotFound):
        services.rotate_refresh_token(bobs.tokens.refresh)


# -- the extension point of refresh -------------------------------------------------------


def test_a_registered_exchange_sees_only_tokens_without_a_session(user):
    seen: list[Any] = []
    adopted = new(user)

    def exchange(raw: Any, *, client: Any = None) -> Any:
        seen.append(raw)
        return adopted if raw == "adopt-me" else None

    services.register_refresh_token_exchange(exchange)
    services.register_refresh_token_exchange(exchange)  # a no-op
    try:
        assert services.rotate_refresh_token("adopt-me") is adopted
        with pytest.raises(TokenInvalid):
            services.rotate_refresh_token("decline-me")
        own = new(user)
        assert services.rotate_refresh_token(own.tokens.refresh).session_id == own.session_id
    finally:
        services.unregister_refresh_token_exchange(exchange)
    assert len(seen) == 2  # the session token never reached the exchange
    with pytest.raises(TokenInvalid):
        services.rotate_refresh_token("adopt-me")  # unregistered: refused
    services.unregister_refresh_token_exchange(exchange)  # a no-op


# -- logout, revocation --------------------------------------------------------------------


def test_logout_ends_the_session_once(user, told):
    issued = new(user)
    assert services.logout(issued.tokens.refresh) is True
    assert DeviceSession.objects.get(pk=issued.session_id).revoke_reason == "logout"
    assert services.logout(issued.tokens.refresh) is False
    assert told.sessions == [[str(issued.session_id)]]


def test_logout_with_an_older_token_of_the_chain_is_a_replay(user):
    issued = new(user)
    services.rotate_refresh_token(issued.tokens.refresh)
    services.rotate_refresh_token(issued.tokens.refresh)  # grace: same current token
    later = timezone.now() + timedelta(minutes=1)
    with time_machine.travel(later), pytest.raises(TokenReused):
        services.logout(issued.tokens.refresh)
    assert DeviceSession.objects.get(pk=issued.session_id).revoke_reason == "reuse_detected"


def test_revoke_session_only_for_its_owner(user, make_user):
    issued = new(user)
    bob = make_user("bob")
    assert services.revoke_session(issued.session_id, reason="admin", user=bob) is False
    assert services.revoke_session(str(issued.session_id), reason="admin", user=user) is True
    assert services.revoke_session(issued.session_id, reason="admin") is False  # already


def test_revoke_sessions_is_one_notice_for_the_whole_queryset(user, told):
    ids = {new(user).session_id for _ in range(3)}
    with catch_signal(signals.session_revoked) as revoked:
        count = services.revoke_sessions(DeviceSession.objects.filter(pk__in=ids), "admin")
    assert count == 3
    assert len(told.sessions) == 1
    assert set(told.sessions[0]) == {str(pk) for pk in ids}
    assert len(revoked) == 1


def test_a_revocation_rolled_back_tells_no_one(user, told):
    issued = new(user)

    def revoke_then_fail() -> None:
        with transaction.atomic():
            services.revoke_session(issued.session_id, reason="admin")
            raise RuntimeError("the caller's transaction fails")

    with catch_signal(signals.session_revoked) as revoked, pytest.raises(RuntimeError):
        revoke_then_fail()
    assert DeviceSession.objects.get(pk=issued.session_id).revoked_at is None
    assert (told.sessions, revoked) == ([], [])


def test_logout_everywhere_is_one_user_notice_whatever_the_number(user, told):
    keep = new(user)
    for _ in range(4):
        new(user)
    with catch_signal(signals.user_logged_out_everywhere) as everywhere:
        count = services.logout_everywhere(user, keep_session_id=keep.session_id)
    assert count == 4
    assert told.users == [(str(user.pk), str(keep.session_id))]
    assert told.sessions == []
    assert [(e["count"], e["kept_session_id"]) for e in everywhere] == [(4, keep.session_id)]
    assert set(DeviceSession.objects.active().values_list("pk", flat=True)) == {keep.session_id}


def test_logout_everywhere_by_primary_key(user):
    new(user)
    assert services.logout_everywhere(user.pk) == 1


# -- rename, users -------------------------------------------------------------------------


def test_rename_session(user, make_user):
    issued = new(user, client=ClientInfo(user_agent=FIREFOX_LINUX))
    renamed = services.rename_session(user, issued.session_id, "  " + "x" * 150 + "  ")
    assert renamed is not None
    assert renamed.name == "x" * 100
    assert services.rename_session(user, issued.session_id, "").display_name == "Firefox on Linux"
    assert services.rename_session(make_user("bob"), issued.session_id, "mine") is None
    assert services.rename_session(user, uuid.uuid4(), "gone") is None


def test_user_for_claim_and_the_user_rule(user):
    assert services.user_for_claim(user.pk) == user
    assert services.user_for_claim(str(user.pk)) == user
    assert services.user_for_claim("not an id") is None
    assert services.user_may_authenticate(user) is True
    user.is_active = False
    assert services.user_may_authenticate(user) is False


def test_user_deleted_leaves_a_record_and_a_user_notice(
    user, told, django_capture_on_commit_callbacks
):
    new(user)
    claim = str(user.pk)
    with django_capture_on_commit_callbacks(execute=True):
        user.delete()  # the post_delete receiver calls services.user_deleted
    record = RevocationRecord.objects.get()
    assert (record.session_id, record.user_claim) == (None, claim)
    assert told.users == [(claim, None)]


def test_user_id_changed_ends_every_session_under_the_old_claim(user, told):
    with override_settings(
        SIMPLE_JWT={"USER_ID_FIELD": "username", "USER_ID_CLAIM": "user_id"},
        TOKEN_SESSIONS={"REVOCATION_BACKEND": f"{__name__}.Recorder"},
    ):
        new(user)
        new(user)
        assert services.user_id_changed(user, "old-name") == 2
    assert RevocationRecord.objects.filter(user_claim="old-name").count() == 1
    assert ("old-name", None) in told.users


def test_services_work_without_http(user):
    issued = services.create_session(
        user, client=ClientInfo(ip_address="192.0.2.1", user_agent="curl/8.5.0"), name="CLI"
    )
    assert issued.session is not None
    assert issued.session.display_name == "CLI"
    rotated = services.rotate_refresh_token(issued.tokens.refresh)
    assert rotated.session_id == issued.session_id
    assert services.logout_everywhere(user) == 1
