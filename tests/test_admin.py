"""The admin, through its HTTP views: the device-session list, its filters, search, query
budget and revoke action; "Log out everywhere" on the project's user admin, from the mixin
or the explicit call; the opt-in inline and its revoke page. Runs with the default and the
UUID user model.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import path
from django.utils import timezone

import tests.urls
from django_token_sessions import services, signals
from django_token_sessions.admin import (
    DeviceSessionAdmin,
    EstimatedCountPaginator,
    LogoutEverywhereAdminMixin,
    UserSessionsAdminMixin,
    add_logout_everywhere_action,
    logout_everywhere_action,
)
from django_token_sessions.device import ClientInfo
from django_token_sessions.models import DeviceSession
from tests.support.clients import bearer
from tests.support.signals import catch_signal

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/token_sessions/devicesession/"
LOGOUT_ACTION = "token_sessions_logout_everywhere"


class SessionsUserAdmin(UserSessionsAdminMixin, UserAdmin):
    """A project's user admin with the mixin, on a site of its own."""


mixin_site = admin.AdminSite(name="mixin_admin")
mixin_site.register(get_user_model(), SessionsUserAdmin)
mixin_site.register(DeviceSession, DeviceSessionAdmin)
# Django's UserAdmin as it is, given the action by the explicit call.
call_site = admin.AdminSite(name="call_admin")
call_site.register(get_user_model(), UserAdmin)
add_logout_everywhere_action(call_site)
# Django's UserAdmin as it is, and nothing asked.
bare_site = admin.AdminSite(name="bare_admin")
bare_site.register(get_user_model(), UserAdmin)
# The URLconf of the tests marked @pytest.mark.urls(__name__): the three sites, plus the API.
urlpatterns = [
    path("mixin-admin/", mixin_site.urls),
    path("call-admin/", call_site.urls),
    path("bare-admin/", bare_site.urls),
    *tests.urls.urlpatterns,
]


def staff_client(*codenames, username="staff"):
    staff = get_user_model().objects.create_user(
        username=username, password="pw-staff-1234", email=f"{username}@example.com", is_staff=True
    )
    staff.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(staff)
    return client


def shown(response):
    """Primary keys of the sessions on the changelist page, in order."""
    assert response.status_code == 200, response.content[:500]
    return [session.pk for session in response.context["cl"].result_list]


def user_changelist(site="call-admin"):
    opts = get_user_model()._meta
    return f"/{site}/{opts.app_label}/{opts.model_name}/"


def sessions_of(user, count, **client):
    return [services.create_session(user, client=ClientInfo(**client)) for _ in range(count)]


# --- The list ---------------------------------------------------------------------------


def test_the_list_shows_who_where_when_and_status(admin_client, user):
    live = services.create_session(
        user, client=ClientInfo(ip_address="203.0.113.7", user_agent="curl/8.5.0"), name="CLI"
    )
    gone = services.create_session(user)
    services.revoke_session(gone.session_id, reason="admin")

    response = admin_client.get(CHANGELIST)

    html = response.content.decode()
    assert set(shown(response)) == {live.session_id, gone.session_id}
    for text in ("CLI", "203.0.113.7", "Active", "Revoked", "Revoked by an administrator"):
        assert text in html
    assert user.get_username() in html
    for header in ("User", "Device", "IP address", "Created", "Last seen", "Expires", "Status"):
        assert f">{header}<" in html or f">{header}</a>" in html, header


def test_the_list_costs_the_same_queries_for_3_or_30_sessions(admin_client, make_user):
    users = [make_user(f"user{i}") for i in range(5)]
    sessions_of(users[0], 3)
    admin_client.get(CHANGELIST)  # warm up (session, content types)

    with CaptureQueriesContext(connection) as three:
        assert len(shown(admin_client.get(CHANGELIST))) == 3
    for i, user in enumerate(users):
        sessions_of(user, 6 if i else 3, ip_address=f"198.51.100.{i + 1}")
    with CaptureQueriesContext(connection) as thirty:
        assert len(shown(admin_client.get(CHANGELIST))) == 30

    assert len(thirty) == len(three), [q["sql"] for q in thirty.captured_queries]
    # Every count is bounded: no COUNT(*) of the whole (filtered) table.
    counts = [q["sql"] for q in thirty.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts
    assert all("LIMIT" in sql.upper() for sql in counts), counts


def test_the_paginator_counts_at_most_its_limit(admin_client, user, monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "exact_count_limit", 5)
    sessions_of(user, 8)

    response = admin_client.get(CHANGELIST + "?status=active")

    cl = response.context["cl"]
    assert cl.result_count == 6  # "more than 5": 6 rows read, not 8
    assert cl.full_result_count is None  # show_full_result_count = False
    assert len(shown(response)) == 8  # one page (6 < list_per_page): the whole queryset


def test_unfiltered_the_count_is_the_planner_estimate_on_postgresql(user):
    sessions_of(user, 12)
    postgres = connection.vendor == "postgresql"
    if postgres:
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {DeviceSession._meta.db_table}")
    paginator = EstimatedCountPaginator(DeviceSession.objects.order_by("-last_seen_at"), 5)
    paginator.exact_count_limit = 5

    with CaptureQueriesContext(connection) as queries:
        count = paginator.count

    if postgres:  # one catalogue lookup, no scan of the table
        assert count == 12
        assert [("pg_class" in q["sql"], "COUNT(" in q["sql"]) for q in queries] == [(True, False)]
    else:  # elsewhere the bounded count
        assert count == 6
        assert [("LIMIT" in q["sql"], "COUNT(" in q["sql"]) for q in queries] == [(True, True)]


def test_filters_by_status(admin_client, user):
    now = timezone.now()
    active, revoked, idle, absolute = (s.session_id for s in sessions_of(user, 4))
    services.revoke_session(revoked, reason="logout")
    DeviceSession.objects.filter(pk=idle).update(idle_expires_at=now - timedelta(seconds=1))
    DeviceSession.objects.filter(pk=absolute).update(
        idle_expires_at=now - timedelta(hours=1), absolute_expires_at=now - timedelta(hours=1)
    )

    assert shown(admin_client.get(CHANGELIST + "?status=active")) == [active]
    assert shown(admin_client.get(CHANGELIST + "?status=revoked")) == [revoked]
    assert set(shown(admin_client.get(CHANGELIST + "?status=expired"))) == {idle, absolute}
    html = admin_client.get(CHANGELIST).content.decode()
    assert html.count('<td class="field-status">Expired</td>') == 2


def test_filters_by_reason_and_created(admin_client, user):
    old, by_admin, by_user = (s.session_id for s in sessions_of(user, 3))
    services.revoke_session(by_admin, reason="admin")
    services.revoke_session(by_user, reason="logout")
    DeviceSession.objects.filter(pk=old).update(created_at=timezone.now() - timedelta(days=40))

    assert shown(admin_client.get(CHANGELIST + "?revoke_reason__exact=admin")) == [by_admin]
    assert shown(admin_client.get(CHANGELIST + "?revoke_reason__exact=logout")) == [by_user]
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    past_week = {
        "created_at__gte": str(today - timedelta(days=7)),
        "created_at__lt": str(today + timedelta(days=1)),
    }
    assert set(shown(admin_client.get(CHANGELIST, past_week))) == {by_admin, by_user}
    # The filter sidebar offers what was tested.
    html = admin_client.get(CHANGELIST).content.decode()
    for choice in ("?status=active", "?status=revoked", "?status=expired", "revoke_reason"):
        assert choice in html
    assert "created_at__gte" in html


def test_search(admin_client, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    laptop = services.create_session(
        alice, client=ClientInfo(ip_address="203.0.113.9"), name="Work laptop"
    ).session_id
    firefox = services.create_session(
        bob,
        client=ClientInfo(
            ip_address="2001:db8::1",
            user_agent="Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:120.0) "
            "Gecko/20100101 Firefox/120.0",
        ),
    ).session_id

    def search(term):
        return set(shown(admin_client.get(CHANGELIST, {"q": term})))

    assert search("alice") == {laptop}  # username, any part: "lic" too
    assert search("LIC") == {laptop}
    assert search("bob@example") == {firefox}  # e-mail
    assert search("203.0.113.9") == {laptop}  # an exact IP
    assert search("2001:db8::1") == {firefox}
    assert search("firefox") == {firefox}  # the parsed label
    assert search('"work laptop"') == {laptop}  # the user's name for it, quoted
    assert search("macos bob") == {firefox}  # every term must match
    assert search("nobody") == set()
    # Scoped terms search one thing only.
    assert search("user:ali") == {laptop}
    assert search("user:firefox") == set()
    assert search("device:firefox") == {firefox}
    assert search("device:alice") == set()
    assert search("ip:203.0.113.9") == {laptop}
    assert search("ip:2001:db8::1") == {firefox}
    assert search("ip:203.0.") == {laptop}  # a prefix, with the scope
    assert search("203.0.") == set()  # not an IP, not a name
    assert "user:alice" in admin_client.get(CHANGELIST).content.decode()  # the help text


# --- Read-only, and the revoke action -----------------------------------------------------


def test_sessions_are_read_only_and_never_added_or_bulk_deleted(admin_client, user):
    session = services.create_session(user).session
    change = f"{CHANGELIST}{session.pk}/change/"

    response = admin_client.get(change)

    html = response.content.decode()
    assert response.status_code == 200
    assert session.refresh_jti in html  # shown...
    assert 'name="refresh_jti"' not in html  # ...never as a form field
    assert 'name="_save"' not in html
    assert admin_client.post(change, {"name": "x"}).status_code == 403
    assert admin_client.get(CHANGELIST + "add/").status_code == 403
    choices = response_actions(admin_client)
    assert "revoke_selected" in choices
    assert "delete_selected" not in choices


def response_actions(client):
    html = client.get(CHANGELIST).content.decode()
    return set(re.findall(r'<option value="([a-z_]+)"', html))


def test_revoke_action_goes_through_the_services(admin_client, user, make_user, login):
    laptop, phone, bystander = login(user), login(user), login(make_user("bob"))
    ids = [laptop["session"]["id"], phone["session"]["id"]]

    with catch_signal(signals.session_revoked) as sent:
        response = admin_client.post(
            CHANGELIST, {"action": "revoke_selected", "_selected_action": ids}, follow=True
        )

    assert response.status_code == 200
    assert "2 sessions were revoked." in response.content.decode()
    assert [(sorted(map(str, s["session_ids"])), s["reason"]) for s in sent] == [
        (sorted(ids), "admin")
    ]
    for body in (laptop, phone):
        refused = bearer(body["access"]).get("/api/me/")
        assert (refused.status_code, refused.json()["code"]) == (401, "session_revoked")
        assert DeviceSession.objects.get(pk=body["session"]["id"]).revoke_reason == "admin"
    assert bearer(bystander["access"]).get("/api/me/").status_code == 200

    # Again: nothing left to revoke, nothing sent.
    with catch_signal(signals.session_revoked) as sent:
        again = admin_client.post(
            CHANGELIST, {"action": "revoke_selected", "_selected_action": ids}, follow=True
        )
    assert "already ended" in again.content.decode()
    assert sent == []


def test_revoking_needs_the_change_permission(user):
    session = services.create_session(user).session_id
    viewer = staff_client("view_devicesession")
    assert viewer.get(CHANGELIST).status_code == 200
    assert "revoke_selected" not in response_actions(viewer)
    viewer.post(CHANGELIST, {"action": "revoke_selected", "_selected_action": [session]})
    assert viewer.post(f"{CHANGELIST}{session}/revoke/").status_code == 403
    assert DeviceSession.objects.get().revoked_at is None

    revoker = staff_client("view_devicesession", "change_devicesession", username="revoker")
    revoker.post(CHANGELIST, {"action": "revoke_selected", "_selected_action": [session]})
    assert DeviceSession.objects.get().revoke_reason == "admin"


def test_deleting_a_session_in_the_admin_revokes_it_first(
    admin_client, user, login, django_capture_on_commit_callbacks
):
    body = login(user)
    url = f"{CHANGELIST}{body['session']['id']}/delete/"

    # The delete view runs in a transaction: the signal and the marker follow its commit.
    with (
        catch_signal(signals.session_revoked) as sent,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert admin_client.post(url, {"post": "yes"}).status_code == 302

    assert not DeviceSession.objects.exists()
    assert [s["reason"] for s in sent] == ["admin"]
    assert bearer(body["access"]).get("/api/me/").status_code == 401


# --- "Log out everywhere" on the project's user admin --------------------------------------


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(
    ("site", "offered"), [("mixin-admin", True), ("call-admin", True), ("bare-admin", False)]
)
def test_the_user_admin_offers_log_out_everywhere_only_when_asked(admin_client, site, offered):
    page = admin_client.get(user_changelist(site))
    assert page.status_code == 200
    choices = dict(page.context["action_form"].fields["action"].choices)
    assert (LOGOUT_ACTION in choices) is offered
    assert (f'<option value="{LOGOUT_ACTION}">' in page.content.decode()) is offered


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("site", ["mixin-admin", "call-admin"])
def test_user_admin_has_log_out_everywhere(admin_client, user, make_user, login, site):
    bob, carol = make_user("bob"), make_user("carol")
    alice_tokens = [login(user), login(user)]
    bob_tokens = [login(bob)]
    carol_tokens = [login(carol)]

    with (
        catch_signal(signals.user_logged_out_everywhere) as everywhere,
        catch_signal(signals.session_revoked) as revoked,
    ):
        response = admin_client.post(
            user_changelist(site),
            {"action": LOGOUT_ACTION, "_selected_action": [user.pk, bob.pk]},
            follow=True,
        )

    assert response.status_code == 200
    assert "2 users were logged out everywhere (3 sessions revoked)." in (response.content.decode())
    assert sorted((s["user"].pk, s["reason"], s["count"]) for s in everywhere) == sorted(
        [(user.pk, "admin", 2), (bob.pk, "admin", 1)]
    )
    assert revoked == []  # one logout-everywhere signal per user instead
    for body in alice_tokens + bob_tokens:
        refused = bearer(body["access"]).get("/api/me/")
        assert (refused.status_code, refused.json()["code"]) == (401, "session_revoked")
    assert set(
        DeviceSession.objects.exclude(user=carol).values_list("revoke_reason", flat=True)
    ) == {"admin"}
    assert bearer(carol_tokens[0]["access"]).get("/api/me/").status_code == 200


@pytest.mark.urls(__name__)
def test_log_out_everywhere_on_a_user_admin_without_it_is_refused(admin_client, user, login):
    body = login(user)
    response = admin_client.post(
        user_changelist("bare-admin"),
        {"action": LOGOUT_ACTION, "_selected_action": [user.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "No action selected." in response.content.decode()
    assert bearer(body["access"]).get("/api/me/").status_code == 200


@pytest.mark.urls(__name__)
def test_log_out_everywhere_needs_the_user_change_permission(user, login):
    body = login(user)
    opts = get_user_model()._meta
    viewer = staff_client(f"view_{opts.model_name}")
    viewer.post(user_changelist(), {"action": LOGOUT_ACTION, "_selected_action": [user.pk]})
    assert bearer(body["access"]).get("/api/me/").status_code == 200


def test_the_call_adds_the_action_to_one_registered_instance_once():
    user_model = get_user_model()

    class CustomUserAdmin(UserAdmin):
        actions = ["custom"]

        @admin.action(description="Custom")
        def custom(self, request, queryset):
            pass

    site = admin.AdminSite(name="custom_actions")
    site.register(user_model, CustomUserAdmin)
    model_admin = site._registry[user_model]

    assert add_logout_everywhere_action(site) is model_admin
    assert add_logout_everywhere_action(model_admin) is model_admin  # a second call: no-op
    assert list(model_admin.actions) == ["custom", logout_everywhere_action]
    # The class, and the same class registered on another site, are left as they were.
    assert CustomUserAdmin.actions == ["custom"]
    other = admin.AdminSite(name="other")
    other.register(user_model, CustomUserAdmin)
    assert list(other._registry[user_model].actions) == ["custom"]


def test_the_call_needs_the_user_model_registered():
    with pytest.raises(admin.sites.NotRegistered, match="register it before"):
        add_logout_everywhere_action(admin.AdminSite(name="empty"))


def test_the_mixins_add_the_action_after_the_admins_own():
    user_model = get_user_model()

    class ActionUserAdmin(LogoutEverywhereAdminMixin, UserAdmin):
        actions = ["custom"]

        @admin.action(description="Custom")
        def custom(self, request, queryset):
            pass

    site = admin.AdminSite(name="mixins")
    site.register(user_model, ActionUserAdmin)
    assert list(site._registry[user_model].actions) == ["custom", logout_everywhere_action]
    assert ActionUserAdmin.actions == ["custom"]
    assert list(mixin_site._registry[user_model].actions) == [logout_everywhere_action]
    assert site._registry[user_model].check() == []  # Django's admin checks accept it


# --- The opt-in inline and the revoke page -----------------------------------------------


def mixin_user_url(user):
    opts = get_user_model()._meta
    return f"/mixin-admin/{opts.app_label}/{opts.model_name}/{user.pk}/change/"


@pytest.mark.urls(__name__)
def test_the_inline_lists_active_sessions_with_a_revoke_link(user, superuser, login):
    laptop, phone, gone = login(user), login(user), login(user)
    services.revoke_session(gone["session"]["id"], reason="logout")
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)

    page = client.get(mixin_user_url(user))

    html = page.content.decode()
    assert page.status_code == 200
    assert "Active device sessions" in html
    links = re.findall(
        r'href="(/mixin-admin/token_sessions/devicesession/[^"]+/revoke/[^"]*)"', html
    )
    assert len(links) == 2  # the revoked session is not listed
    assert gone["session"]["id"] not in html
    link = next(link for link in links if phone["session"]["id"] in link).replace("&amp;", "&")

    confirm = client.get(link)
    assert confirm.status_code == 200
    assert "Revoke the session" in confirm.content.decode()
    csrf = confirm.context["csrf_token"]
    next_url = re.search(r'name="next" value="([^"]+)"', confirm.content.decode()).group(1)
    assert next_url == mixin_user_url(user)

    assert client.post(link, {"next": next_url}).status_code == 403  # no CSRF token
    with catch_signal(signals.session_revoked) as sent:
        done = client.post(link, {"next": next_url, "csrfmiddlewaretoken": str(csrf)})

    assert (done.status_code, done["Location"]) == (302, mixin_user_url(user))
    assert [(s["session_ids"], s["reason"]) for s in sent] == [
        ([DeviceSession.objects.get(pk=phone["session"]["id"]).pk], "admin")
    ]
    assert bearer(phone["access"]).get("/api/me/").status_code == 401
    assert bearer(laptop["access"]).get("/api/me/").status_code == 200
    after = client.get(mixin_user_url(user)).content.decode()
    assert "was revoked" in after
    assert phone["session"]["id"] not in after


@pytest.mark.urls(__name__)
def test_the_revoke_page_checks_permission_and_where_it_sends_you(user, superuser):
    session = services.create_session(user).session_id
    url = f"/mixin-admin/token_sessions/devicesession/{session}/revoke/"
    client = Client()
    client.force_login(superuser)

    evil = client.post(url, {"next": "https://evil.example/"})
    assert evil["Location"] == f"/mixin-admin/token_sessions/devicesession/{session}/change/"
    again = client.post(url, follow=True)
    assert "had already ended" in again.content.decode()
    assert client.get(
        f"/mixin-admin/token_sessions/devicesession/{user.pk}0/revoke/"
    ).status_code in (
        302,
        404,
    )

    opts = get_user_model()._meta
    viewer = staff_client(f"view_{opts.model_name}", f"change_{opts.model_name}")
    assert viewer.get(url).status_code == 403
    page = viewer.get(mixin_user_url(user)).content.decode()
    assert "/revoke/" not in page  # no revoke column for who may not revoke


@pytest.mark.urls(__name__)
def test_the_mixin_adds_the_inline_to_the_change_page_only_and_the_action(superuser, user):
    client = Client()
    client.force_login(superuser)
    opts = get_user_model()._meta
    add = client.get(f"/mixin-admin/{opts.app_label}/{opts.model_name}/add/")
    assert add.status_code == 200
    assert "device_sessions-TOTAL_FORMS" not in add.content.decode()
    change = client.get(mixin_user_url(user))
    assert "device_sessions-TOTAL_FORMS" in change.content.decode()
    assert logout_everywhere_action in mixin_site._registry[get_user_model()].actions
    # The smaller mixin: the action, no inline.
    action_only = admin.AdminSite(name="action_only")
    action_only.register(
        get_user_model(), type("ActionUserAdmin", (LogoutEverywhereAdminMixin, UserAdmin), {})
    )
    model_admin = action_only._registry[get_user_model()]
    request = change.wsgi_request
    assert list(model_admin.get_inlines(request, user)) == []


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
