"""The hand-written statements of ``django_token_sessions.storage`` against their ORM twins.

Each scenario runs the hand-written statement and its ORM-built twin on identical rows
and requires the same answer and the same row afterwards. The suite runs on SQLite here,
and on PostgreSQL and MariaDB in the ``pg`` and ``mariadb`` tox envs (and with a
UUID-keyed user model in ``uuid-user``).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from django_token_sessions import storage
from django_token_sessions.models import LOOKUP_ERRORS, DeviceSession
from django_token_sessions.storage import UserCondition

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def new_session(user: Any, **fields: Any) -> DeviceSession:
    values: dict[str, Any] = {
        "user": user,
        "refresh_jti": "current-jti",
        "previous_jti": "older-jti",
        "created_at": NOW - timedelta(hours=1),
        "last_seen_at": NOW - timedelta(hours=1),
        "idle_expires_at": NOW + timedelta(days=1),
        "absolute_expires_at": NOW + timedelta(days=30),
    }
    values.update(fields)
    return DeviceSession.objects.create(**values)


def row(session_id: Any) -> dict[str, Any] | None:
    found = DeviceSession.objects.filter(pk=session_id).first()
    if found is None:
        return None
    return {field.attname: getattr(found, field.attname) for field in found._meta.concrete_fields}


def swap_values() -> dict[str, Any]:
    return {
        "refresh_jti": "next-jti",
        "previous_jti": "current-jti",
        "rotated_at": NOW,
        "last_seen_at": NOW,
        "idle_expires_at": NOW + timedelta(days=7),
        "ip_address": "203.0.113.9",
    }


def outcome(swap: Any, session_id: Any, jti: str, user: UserCondition) -> tuple[Any, Any]:
    """(the answer or the error class, the row afterwards) of one swap."""
    try:
        answer: Any = swap(session_id, jti, user=user, values=swap_values(), now=NOW)
    except LOOKUP_ERRORS:
        answer = LOOKUP_ERRORS  # a claim of the wrong shape for the user table
    return answer, row(session_id)


def by_claim(claim: Any, *, field: str = "pk", active: bool = False) -> UserCondition:
    return UserCondition(user_claim=claim, id_field=field, require_active=active)


#: (scenario, session fields, jti presented, the user condition given the (owner, other
#: user), the hand-written statement's expected answer)
SCENARIOS = [
    ("current, by pk", {}, "current-jti", lambda o, x: UserCondition(user_pk=o.pk), True),
    ("stale jti", {}, "older-jti", lambda o, x: UserCondition(user_pk=o.pk), False),
    ("unknown jti", {}, "nope", lambda o, x: UserCondition(user_pk=o.pk), False),
    (
        "revoked",
        {"revoked_at": NOW - timedelta(seconds=1)},
        "current-jti",
        lambda o, x: UserCondition(user_pk=o.pk),
        False,
    ),
    (
        "idle expiry at now",
        {"idle_expires_at": NOW},
        "current-jti",
        lambda o, x: UserCondition(user_pk=o.pk),
        False,
    ),
    (
        "absolute expiry past",
        {"absolute_expires_at": NOW - timedelta(seconds=1)},
        "current-jti",
        lambda o, x: UserCondition(user_pk=o.pk),
        False,
    ),
    ("another user's pk", {}, "current-jti", lambda o, x: UserCondition(user_pk=x.pk), False),
    ("by claim, pk", {}, "current-jti", lambda o, x: by_claim(o.pk), True),
    ("by claim, pk as text", {}, "current-jti", lambda o, x: by_claim(str(o.pk)), True),
    ("by claim, id field", {}, "current-jti", lambda o, x: by_claim(o.pk, field="id"), True),
    ("by claim, other user", {}, "current-jti", lambda o, x: by_claim(x.pk), False),
    (
        "by claim, username",
        {},
        "current-jti",
        lambda o, x: by_claim("alice", field="username"),
        True,
    ),
    ("by claim, active", {}, "current-jti", lambda o, x: by_claim(o.pk, active=True), True),
    ("by claim, wrong shape", {}, "current-jti", lambda o, x: by_claim("not-an-id"), LOOKUP_ERRORS),
]


@pytest.mark.parametrize(
    ("fields", "jti", "condition", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in SCENARIOS],
)
def test_the_swap_and_its_orm_twin_agree(make_user, fields, jti, condition, expected):
    owner, other = make_user("alice"), make_user("bob")
    user = condition(owner, other)
    outcomes = []
    for swap in (storage.swap_refresh_jti, storage.swap_refresh_jti_orm):
        session = new_session(owner, **fields)
        answer, after = outcome(swap, session.pk, jti, user)
        after = after and {k: v for k, v in after.items() if k != "id"}
        outcomes.append((answer, after))
        session.delete()
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == expected
    if expected is True:
        assert outcomes[0][1]["refresh_jti"] == "next-jti"


def test_the_swap_of_an_inactive_users_session_agrees(make_user):
    owner = make_user("alice", is_active=False)
    outcomes = []
    for swap in (storage.swap_refresh_jti, storage.swap_refresh_jti_orm):
        for active in (True, False):
            session = new_session(owner)
            answer, after = outcome(
                swap, session.pk, "current-jti", by_claim(owner.pk, active=active)
            )
            outcomes.append((active, answer, after and after["refresh_jti"]))
            session.delete()
    assert outcomes[:2] == outcomes[2:]
    assert outcomes[:2] == [(True, False, "current-jti"), (False, True, "next-jti")]


def test_a_swap_of_a_missing_session_agrees(make_user):
    owner = make_user("alice")
    for swap in (storage.swap_refresh_jti, storage.swap_refresh_jti_orm):
        assert outcome(swap, uuid.uuid4(), "current-jti", by_claim(owner.pk)) == (False, None)


def test_concurrent_swaps_of_one_token_leave_one_winner(make_user):
    # Sequentially here (the concurrent runs are in test_concurrency.py): the second swap
    # of the same jti, by either statement, finds the row changed.
    owner = make_user("alice")
    for first, second in [
        (storage.swap_refresh_jti, storage.swap_refresh_jti_orm),
        (storage.swap_refresh_jti_orm, storage.swap_refresh_jti),
    ]:
        session = new_session(owner)
        assert outcome(first, session.pk, "current-jti", by_claim(owner.pk))[0] is True
        assert outcome(second, session.pk, "current-jti", by_claim(owner.pk))[0] is False
        session.delete()


def test_session_alive_and_its_orm_twin_agree(make_user):
    owner, other = make_user("alice"), make_user("bob")
    live = new_session(owner)
    revoked = new_session(owner, revoked_at=NOW)
    expired = new_session(owner, idle_expires_at=NOW - timedelta(days=1))  # not revoked
    others = new_session(other)
    users = get_user_model()._default_manager.order_by("pk")
    for session_id in [live.pk, revoked.pk, expired.pk, others.pk, uuid.uuid4()]:
        raw = dict(
            users.annotate(alive=storage.session_alive(session_id)).values_list("pk", "alive")
        )
        orm = dict(
            users.annotate(alive=storage.session_alive_orm(session_id)).values_list("pk", "alive")
        )
        assert {pk: bool(alive) for pk, alive in raw.items()} == orm
    alive_for = dict(
        users.annotate(alive=storage.session_alive(live.pk)).values_list("pk", "alive")
    )
    assert (bool(alive_for[owner.pk]), bool(alive_for[other.pk])) == (True, False)


def test_the_table_estimate_is_postgresqls_row_estimate(make_user):
    owner = make_user("alice")
    for _ in range(25):
        new_session(owner, refresh_jti=uuid.uuid4().hex)
    sessions = DeviceSession.objects.all()
    if connection.vendor != "postgresql":
        assert storage.table_estimate(sessions) == -1
        return
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {connection.ops.quote_name(DeviceSession._meta.db_table)}")
    assert storage.table_estimate(sessions) == sessions.count() == 25
