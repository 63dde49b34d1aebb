"""The device-session admin under hostile query strings and posts, through its HTTP views:
whatever a crafted link carries (a NUL, invalid UTF-8, control characters, very long
values, unknown choices or lookups, a thousand search terms), the answer is a page, a
redirect to ``?e=1`` or a 400, never a 500, and nothing changes.

A NUL in any filter or search value was a 500 on PostgreSQL (``?revoke_reason=%00``); a
filter on a column the list does not offer (``?ip_address=x``, ``?user_agent__regex=(``)
one on every database; a search of a thousand terms one on SQLite.
"""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import RequestFactory

from django_token_sessions import services
from django_token_sessions.device import ClientInfo
from django_token_sessions.models import DeviceSession
from tests.test_hostile_tokens import snapshot

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/token_sessions/devicesession/"
#: The search's term limit, pinned here (django_token_sessions.admin.MAX_SEARCH_TERMS).
MAX_SEARCH_TERMS = 10
LONG = "x" * 5000

#: Raw (percent-encoded) values: a NUL, invalid UTF-8 (what would be a lone surrogate, an
#: overlong NUL, a stray byte), control characters, too long, not a choice.
HOSTILE_VALUES = {
    "nul": "%00",
    "nul-inside": "a%00b",
    "surrogate-utf8": "%ED%BF%BF",
    "surrogate-high-utf8": "%ED%A0%80",
    "overlong-nul": "%C0%80",
    "stray-byte": "%FF",
    "escape": "a%1Bb",
    "del": "a%7Fb",
    "c1-nel": "a%C2%85b",
    "long": LONG,
    "unknown-choice": "zzz",
}
#: Every parameter the list or its filters read, and lookups Django would let a
#: hand-written URL use (a column the list offers no filter for).
PARAMETERS = [
    "revoke_reason",
    "revoke_reason__exact",
    "revoke_reason__isnull",
    "status",
    "created_at__gte",
    "created_at__lt",
    "q",
    "o",
    "p",
    "e",
    "all",
    "ip_address",
    "user",
    "refresh_jti",
]


def answer(response: Any) -> str:
    """What the list answered: a page, refused or a bad request; never a 500.

    Refused is the admin's redirect to ``?e=1``, or with ``e`` already in the query string
    its "database error" page.
    """
    if response.status_code == 200:
        refused = "admin/invalid_setup.html" in [t.name for t in response.templates]
        return "refused" if refused else "page"
    if response.status_code == 302:
        assert response["Location"] == f"{CHANGELIST}?e=1", response["Location"]
        return "refused"
    assert response.status_code == 400, response.status_code
    return "bad request"


@pytest.fixture
def sessions(user: Any, make_user: Any) -> list[Any]:
    live = services.create_session(user, client=ClientInfo(ip_address="203.0.113.9"))
    gone = services.create_session(make_user("bob"))
    services.revoke_session(gone.session_id, reason="admin")
    return [live.session_id, gone.session_id]


@pytest.mark.parametrize("value", list(HOSTILE_VALUES.values()), ids=list(HOSTILE_VALUES))
@pytest.mark.parametrize("parameter", PARAMETERS)
def test_no_query_value_is_a_server_error(admin_client, sessions, parameter, value):
    before = snapshot()
    response = admin_client.get(f"{CHANGELIST}?{parameter}={value}")
    result = answer(response)
    assert snapshot() == before
    if "%00" in value or "%1B" in value or "%7F" in value or "%C2%85" in value or value == LONG:
        assert result == "refused"  # before any query
    if parameter in {"ip_address", "user", "refresh_jti", "revoke_reason"}:
        assert result == "refused"  # no filter of the list reads it


@pytest.mark.parametrize(
    "query",
    [
        "revoke_reason=%00",  # the report: a 500 on PostgreSQL
        "revoke_reason__exact=admin&revoke_reason__exact=%00",
        "q=user:%00",
        "q=ip:%00",
        "q=device:a%00",
        "q=%22a%00b%22",
        "ip_address=not-an-ip",  # PostgreSQL's inet refuses it
        "user_agent__regex=(",  # an invalid regular expression, on every database
        "refresh_jti__regex=(a*)*b",
        "user=99999999999999999999999",  # past SQLite's INTEGER
        "created_at__year=99999999999999999999",  # past a C long
        "created_at__gte=0001-01-01",  # naive, and out of range once made aware
        "created_at__lt=9999-12-31+23:59:59%2B00:00",  # past the range in a western zone
        "created_at__gte=2024-02-30+00:00:00%2B00:00",  # no such day
        "created_at__gte=2024-01-01",  # a date, no time or offset: read as naive
        "%00=1",
        "e=1&revoke_reason=%00",  # refused again: the admin's "database error" page, a 200
    ],
)
def test_crafted_filters_are_refused(admin_client, sessions, query):
    before = snapshot()
    response = admin_client.get(f"{CHANGELIST}?{query}")
    assert answer(response) == "refused"
    assert snapshot() == before


def test_the_links_of_the_filter_sidebar_all_work(admin_client, sessions):
    """Whatever the list refuses, every link its own sidebar offers is answered."""
    html = admin_client.get(CHANGELIST).content.decode()
    links = {unescape(href) for href in re.findall(r'href="(\?[^"]*)"', html)}
    assert any("created_at__gte" in link for link in links)
    assert any("revoke_reason__exact" in link for link in links)
    assert any("status=" in link for link in links)
    for link in links:
        response = admin_client.get(CHANGELIST + link)
        assert response.status_code == 200, link


def test_invalid_utf8_in_the_query_string_arrives_as_replacement_characters():
    # Django decodes the query string with errors="replace": a lone surrogate never
    # reaches the admin from a URL, U+FFFD does (and is harmless text).
    request = RequestFactory().get("/?q=%ED%BF%BF&r=%FF&s=%C0%80&t=%00")
    assert request.GET["q"] == "\ufffd" * 3
    assert request.GET["r"] == "\ufffd"
    assert request.GET["s"] == "\ufffd" * 2
    assert request.GET["t"] == "\x00"


def test_searching_replacement_characters_finds_nothing(admin_client, sessions):
    response = admin_client.get(f"{CHANGELIST}?q=%ED%BF%BF")
    assert list(response.context["cl"].result_list) == []


def test_a_search_of_many_terms_finds_nothing_rather_than_failing(admin_client, sessions, user):
    def found(terms: list[str]) -> list[Any]:
        response = admin_client.get(CHANGELIST, {"q": " ".join(terms)})
        assert response.status_code == 200
        return [session.pk for session in response.context["cl"].result_list]

    assert f"Up to {MAX_SEARCH_TERMS} terms." in admin_client.get(CHANGELIST).content.decode()
    assert found(["alice"] * MAX_SEARCH_TERMS) == [sessions[0]]  # the limit itself: fine
    assert found(["alice"] * (MAX_SEARCH_TERMS + 1)) == []
    assert found(["a"] * 400) == []  # SQLite's expression tree gave up on this
    # Longer than any value the list reads: refused before the search.
    assert answer(admin_client.get(CHANGELIST, {"q": "a " * 2000})) == "refused"


# -- the admin's autocomplete view searches with the same method ------------------------------

AUTOCOMPLETE = (
    "/admin/autocomplete/?app_label=token_sessions_legacy&model_name=legacytokenexchange"
    "&field_name=session&term="
)


@pytest.mark.parametrize(
    "term",
    ["%00", "user:a%00", "a%1Bb", "a+" * 1500, "alice+" * (MAX_SEARCH_TERMS + 1)],
    ids=["nul", "scoped-nul", "escape", "1500-terms", "one-term-too-many"],
)
def test_autocomplete_with_a_hostile_term_finds_nothing(admin_client, sessions, term):
    response = admin_client.get(AUTOCOMPLETE + term)
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_autocomplete_still_searches(admin_client, sessions):
    response = admin_client.get(AUTOCOMPLETE + "user:alice")
    assert [row["id"] for row in response.json()["results"]] == [str(sessions[0])]


# -- actions with posted ids that are no ids ------------------------------------------------


BAD_IDS = {
    "nul": "\x00",
    "garbage": "garbage",
    "huge-number": "9" * 30,
    "escape": "a\x1bb",
    "long": LONG,
}


@pytest.mark.parametrize("bad", list(BAD_IDS.values()), ids=list(BAD_IDS))
def test_revoke_action_with_a_malformed_id_changes_nothing(admin_client, sessions, bad):
    before = snapshot()
    response = admin_client.post(
        CHANGELIST,
        {"action": "revoke_selected", "_selected_action": [str(sessions[0]), bad], "index": "0"},
        follow=True,
    )
    assert response.status_code == 200
    assert "Items must be selected" in response.content.decode()
    assert snapshot() == before


@pytest.mark.urls("tests.test_admin")  # the user admin with UserSessionsAdminMixin
@pytest.mark.parametrize("bad", list(BAD_IDS.values()), ids=list(BAD_IDS))
def test_log_out_everywhere_of_the_mixin_with_a_malformed_id_changes_nothing(
    admin_client, sessions, user, bad
):
    opts = get_user_model()._meta
    url = f"/mixin-admin/{opts.app_label}/{opts.model_name}/"
    before = snapshot()
    response = admin_client.post(
        url,
        {
            "action": "token_sessions_logout_everywhere",
            "_selected_action": [str(user.pk), bad],
            "index": "0",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert "Items must be selected" in response.content.decode()
    assert snapshot() == before
    assert DeviceSession.objects.get(pk=sessions[0]).revoked_at is None
