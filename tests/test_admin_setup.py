"""What the admin asks of a project: importing it registers the device-session admin and
nothing else; the user admin gets "Log out everywhere" only when the project asks, and the
check token_sessions.I001 says so when it did not.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from io import StringIO
from uuid import uuid4

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group
from django.core.checks import INFO
from django.core.management import call_command
from django.test import override_settings

from django_token_sessions.admin import (
    LogoutEverywhereAdminMixin,
    UserSessionsAdminMixin,
    add_logout_everywhere_action,
    logout_everywhere_action,
)
from django_token_sessions.checks import check_user_admin_action
from tests.support.example_server import MANAGE, REPO

HINT = "token_sessions.I001"


def run_python(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=REPO,
        env={**inherited, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


# A process of its own: in this one the admin modules were imported long ago. Django set
# up without autodiscovery (SimpleAdminConfig), the project's user admin registered on
# admin.site and on a site of its own, then our admin module imported.
IMPORT_CHANGES_NOTHING = """
    import django
    from django.conf import settings
    import tests.settings as base

    apps = [
        "django.contrib.admin.apps.SimpleAdminConfig" if app == "django.contrib.admin" else app
        for app in base.INSTALLED_APPS
    ]
    settings.configure(**{**{k: getattr(base, k) for k in dir(base) if k.isupper()},
                          "INSTALLED_APPS": apps})
    django.setup()

    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.contrib.auth.admin import UserAdmin

    user_model = get_user_model()
    custom = admin.AdminSite(name="custom")
    custom.register(user_model, UserAdmin)
    if not admin.site.is_registered(user_model):  # django.contrib.auth.admin registers User
        admin.site.register(user_model, UserAdmin)

    def state(site):
        return {
            model: (type(model_admin), list(model_admin.actions or ()))
            for model, model_admin in site._registry.items()
        }

    before = {site: state(site) for site in (admin.site, custom)}
    import django_token_sessions.admin as ours

    default_after = state(admin.site)
    assert list(default_after) == [*before[admin.site], ours.DeviceSession], default_after
    assert default_after[user_model] == before[admin.site][user_model]
    assert state(custom) == before[custom]
    for site in (admin.site._wrapped, custom):
        assert "register" not in vars(site), site.name  # the class's own method
        assert type(site).register is admin.AdminSite.register
        assert dict(site.actions) == {"delete_selected": admin.actions.delete_selected}
    # A user admin registered afterwards has no action either.
    admin.site.unregister(user_model)
    admin.site.register(user_model, UserAdmin)
    later = admin.AdminSite(name="later")
    later.register(user_model, UserAdmin)
    for site in (admin.site, later):
        assert not site._registry[user_model].actions, site.name
    print("unchanged")
"""


@pytest.mark.parametrize("user_model", ["default", "uuid"])
def test_importing_our_admin_changes_nothing_on_any_admin_site(user_model):
    result = run_python(IMPORT_CHANGES_NOTHING, TEST_USER_MODEL=user_model)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "unchanged"


def test_the_mixin_and_the_call_on_any_site_leave_others_alone():
    user_model = get_user_model()
    mixed = admin.AdminSite(name="mixed")
    mixed.register(user_model, type("Mixed", (UserSessionsAdminMixin, UserAdmin), {}))
    called = admin.AdminSite(name="called")
    called.register(user_model, UserAdmin)
    add_logout_everywhere_action(called)
    untouched = admin.AdminSite(name="untouched")
    untouched.register(user_model, UserAdmin)

    assert logout_everywhere_action in mixed._registry[user_model].actions
    assert logout_everywhere_action in called._registry[user_model].actions
    assert not untouched._registry[user_model].actions
    assert not UserAdmin.actions


# --- The check -------------------------------------------------------------------------
#
# The check reads every AdminSite of the process (Django keeps a weak set of them); a
# site and its model admins hold each other, so a test's sites outlive it until the
# garbage collector runs. Each test's site has a name of its own, and only messages
# naming it count.


def hints_for(*sites):
    names = {site.name for site in sites}
    return [
        message
        for message in check_user_admin_action()
        if any(f"admin site {name!r}" in message.msg for name in names)
    ]


def site_with(model_admin_class):
    site = admin.AdminSite(name=f"checked_{uuid4().hex}")
    site.register(get_user_model(), model_admin_class)
    return site


def test_the_check_hints_at_a_user_admin_without_the_action():
    site = site_with(UserAdmin)
    (message,) = hints_for(site)
    assert message.id == HINT
    assert message.level == INFO  # a hint, never an error
    assert message.obj is UserAdmin
    assert "LogoutEverywhereAdminMixin" in message.hint
    assert "add_logout_everywhere_action" in message.hint


@pytest.mark.parametrize("how", ["mixin", "sessions-mixin", "call", "own-actions", "site-wide"])
def test_the_check_is_silent_when_the_user_admin_has_the_action(how):
    bases = {"mixin": LogoutEverywhereAdminMixin, "sessions-mixin": UserSessionsAdminMixin}
    if how in bases:
        site = site_with(type("ProjectUserAdmin", (bases[how], UserAdmin), {}))
    elif how == "own-actions":
        site = site_with(
            type("ProjectUserAdmin", (UserAdmin,), {"actions": [logout_everywhere_action]})
        )
    else:
        site = site_with(UserAdmin)
        if how == "call":
            add_logout_everywhere_action(site)
        else:
            site.add_action(logout_everywhere_action)
    assert hints_for(site) == []


def test_the_check_is_silent_for_a_site_without_the_user_model():
    site = admin.AdminSite(name=f"no_users_{uuid4().hex}")
    site.register(Group)
    assert hints_for(site) == []


def test_the_check_is_silent_without_the_admin_app():
    site = site_with(UserAdmin)
    apps = [app for app in settings.INSTALLED_APPS if app != "django.contrib.admin"]
    with override_settings(INSTALLED_APPS=apps):
        assert check_user_admin_action() == []
    assert len(hints_for(site)) == 1


def test_manage_py_check_shows_the_hint_with_the_admin_tag():
    site = site_with(UserAdmin)
    out, err = StringIO(), StringIO()
    call_command("check", "--tag", "admin", stdout=out, stderr=err)  # no SystemCheckError
    assert f"{HINT}) The user admin of the admin site {site.name!r}" in out.getvalue() + (
        err.getvalue()
    )


def test_the_example_project_asks_for_the_action():
    result = subprocess.run(
        [sys.executable, str(MANAGE), "check", "--tag", "admin"],
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DEMO_"))},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
    assert HINT not in result.stdout + result.stderr
