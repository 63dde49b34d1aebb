"""The count budgets of issue 6, each asserted as a count (times are only reported, by
``python -m benchmarks``).

| budget | tested here, and elsewhere |
|---|---|
| successful refresh: 1 SQL statement (default user rule), 0 cache round trips | view and service below; test_rotation.py (view) |
| authenticated request: simplejwt's user query + exactly 1 cache round trip | below; test_rotation.py |
| logout-everywhere: O(1) statements and cache writes | service 3/200 and view 3/200 below; test_revocation.py (3/60) |
| deleting a user: O(1) statements, one revocation record | 3/200 below |
| session list: 1 query for the list whatever the number of sessions | 1/60 below; test_views.py (5) |
| admin changelist: constant query count, no full-table COUNT(*) | 3/300 below; test_admin.py (3/30) |

A "cache round trip" is one call of the cache API on the counting cache of the test
settings (``tests/support/counting_cache.py``), as it would be one request to Redis.
"""  # noqa: E501

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from django_token_sessions import services
from django_token_sessions.admin import EstimatedCountPaginator
from django_token_sessions.models import DeviceSession, RevocationRecord
from tests.support.clients import PASSWORD, bearer, refresh

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/token_sessions/devicesession/"


def live_sessions(user, count):
    """``count`` live sessions for ``user``, in one INSERT (no tokens: not needed)."""
    now = timezone.now()
    DeviceSession.objects.bulk_create(
        DeviceSession(
            user=user,
            refresh_jti=uuid.uuid4().hex,
            created_at=now,
            last_seen_at=now,
            idle_expires_at=now + timedelta(days=1),
            absolute_expires_at=now + timedelta(days=30),
            device_label="Firefox on Linux",
        )
        for _ in range(count)
    )


# -- refresh ------------------------------------------------------------------------------


def test_refresh_through_the_view_is_one_statement_and_no_cache(
    user, login, django_assert_num_queries, cache_calls
):
    body = login(user)
    cache_calls.clear()
    with django_assert_num_queries(1):
        assert refresh(body["refresh"]).status_code == 200
    assert cache_calls == []


def test_refresh_through_the_service_is_one_statement_and_no_cache(
    user, django_assert_num_queries, cache_calls
):
    issued = services.create_session(user)
    cache_calls.clear()
    with django_assert_num_queries(1):
        rotated = services.rotate_refresh_token(issued.tokens.refresh)
    assert rotated.session_id == issued.session_id
    assert cache_calls == []


# -- authenticated request ----------------------------------------------------------------


def test_authenticated_request_is_the_user_query_and_one_cache_round_trip(
    user, login, django_assert_num_queries, cache_calls
):
    client = bearer(login(user)["access"])
    assert client.get("/api/me/").status_code == 200
    for _ in range(3):  # every request alike, not only the first warm one
        cache_calls.clear()
        with django_assert_num_queries(1):  # the user, as simplejwt's JWTAuthentication
            assert client.get("/api/me/").status_code == 200
        assert cache_calls == ["get_many"]


# -- logout-everywhere --------------------------------------------------------------------


@pytest.mark.parametrize("sessions", [3, 200])
def test_logout_everywhere_service_is_constant(
    user, sessions, django_assert_num_queries, cache_calls
):
    live_sessions(user, sessions)
    cache_calls.clear()
    with django_assert_num_queries(1):  # one UPDATE
        assert services.logout_everywhere(user) == sessions
    assert cache_calls == ["set"]  # one "not before" marker for the user


@pytest.mark.parametrize("sessions", [3, 200])
def test_logout_everywhere_view_is_constant(
    user, login, sessions, django_assert_num_queries, cache_calls
):
    client = bearer(login(user)["access"])
    live_sessions(user, sessions - 1)
    assert client.get("/api/me/").status_code == 200  # warm the revocation cache
    cache_calls.clear()
    with django_assert_num_queries(2):  # the user (authentication) + one UPDATE
        response = client.post("/api/auth/logout-all/", {}, format="json")
    assert response.status_code == 204, response.content
    assert cache_calls == ["get_many", "set"]  # the check + one marker
    assert not DeviceSession.objects.filter(user=user, revoked_at__isnull=True).exists()


# -- deleting a user -----------------------------------------------------------------------


def deletion_statements(make_user, sessions):
    user = make_user(f"user{sessions}")
    live_sessions(user, sessions)
    with CaptureQueriesContext(connection) as queries:
        user.delete()
    return [q["sql"] for q in queries.captured_queries]


def test_deleting_a_user_writes_one_record_whatever_their_sessions(make_user):
    # One revocation record for the user, not one per session: their marker covers every
    # session the cascade deletes. No receiver on the session model either, so the cascade
    # stays Django's: it reads the sessions' ids only, and deletes them 100 at a time.
    from django.db.models.signals import post_delete, pre_delete

    assert not pre_delete.has_listeners(DeviceSession)
    assert not post_delete.has_listeners(DeviceSession)
    sessions = DeviceSession._meta.db_table
    qn = connection.ops.quote_name

    def kinds(statements):
        """The distinct statements, without their values."""
        return {re.split(" WHERE | VALUES ", sql)[0] for sql in statements}

    few, many = deletion_statements(make_user, 3), deletion_statements(make_user, 200)
    assert kinds(few) == kinds(many)
    assert len(many) - len(few) == 1  # a second DELETE of 100 sessions, and nothing else
    inserts = [sql for sql in many if sql.startswith("INSERT")]
    assert len(inserts) == 1
    assert RevocationRecord._meta.db_table in inserts[0]
    (select,) = [sql for sql in many if sql.startswith("SELECT") and sessions in sql]
    assert select.startswith(f"SELECT {qn(sessions)}.{qn('id')} FROM")


# -- session list -------------------------------------------------------------------------


@pytest.mark.parametrize("sessions", [1, 60])
def test_session_list_is_one_query_whatever_the_count(
    user, login, sessions, django_assert_num_queries, cache_calls
):
    client = bearer(login(user)["access"])
    live_sessions(user, sessions - 1)
    assert client.get("/api/me/").status_code == 200  # warm the revocation cache
    cache_calls.clear()
    with django_assert_num_queries(2):  # the user (authentication) + the list
        rows = client.get("/api/auth/sessions/").json()
    assert len(rows) == sessions
    assert cache_calls == ["get_many"]


# -- admin changelist ---------------------------------------------------------------------


def unbounded_counts(queries):
    return [
        q["sql"]
        for q in queries.captured_queries
        if "COUNT(" in q["sql"].upper() and "LIMIT" not in q["sql"].upper()
    ]


def analyze():
    # What autovacuum keeps up to date on a real table: the estimate the unfiltered count
    # reads on PostgreSQL (a never-analysed table costs one more query, the bounded count).
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {DeviceSession._meta.db_table}")


@pytest.mark.parametrize(
    "query", ["", "?status=active", "?status=revoked", "?q=alice", "?p=2"], ids=repr
)
def test_admin_changelist_queries_do_not_grow_with_the_table(
    admin_client, user, make_user, monkeypatch, query
):
    # A small limit, so that 300 rows are "a big table": past it the unfiltered count is
    # PostgreSQL's estimate and every other count stops at the limit.
    monkeypatch.setattr(EstimatedCountPaginator, "exact_count_limit", 50)
    live_sessions(user, 150)  # ?p=2 exists in both
    analyze()
    admin_client.get(CHANGELIST + query)  # warm up (the admin's session, content types)

    with CaptureQueriesContext(connection) as small:
        assert admin_client.get(CHANGELIST + query).status_code == 200
    for i in range(3):
        live_sessions(make_user(f"user{i}"), 50)
    analyze()
    with CaptureQueriesContext(connection) as big:
        assert admin_client.get(CHANGELIST + query).status_code == 200

    assert len(big) == len(small), [q["sql"] for q in big.captured_queries]
    assert unbounded_counts(small) == []
    assert unbounded_counts(big) == []


# -- login --------------------------------------------------------------------------------


def test_login_is_the_user_lookup_and_one_insert(user, django_assert_num_queries):
    client = APIClient(HTTP_X_TOKEN_TRANSPORT="body")
    with django_assert_num_queries(2):  # authenticate()'s user query + the session INSERT
        response = client.post(
            "/api/auth/login/", {"username": user.username, "password": PASSWORD}, format="json"
        )
    assert response.status_code == 200, response.content
