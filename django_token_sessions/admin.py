"""The admin: device sessions, and "Log out everywhere" for the project's own user admin.

- :class:`DeviceSessionAdmin`: read-only list of sessions, built for tables of millions of
  rows (no exact ``COUNT(*)``, indexed filters and ordering, no per-row queries), with a
  "Revoke selected sessions" action and a one-session revoke page. Every revocation goes
  through :mod:`~django_token_sessions.services`, so signals fire and the revocation
  markers are written: the sessions' access tokens are refused on their next request.
- "Log out everywhere" on the project's user admin, asked for explicitly: the
  :class:`LogoutEverywhereAdminMixin`, or :func:`add_logout_everywhere_action` for a
  user admin the project keeps as it is. The check ``token_sessions.I001`` hints when a
  user admin has neither.
- :class:`DeviceSessionInline` and :class:`UserSessionsAdminMixin`: the user's active
  sessions on the user's change page, each with a revoke link, and the action.

Importing this module registers :class:`DeviceSessionAdmin` on ``admin.site`` and changes
nothing else: no other model admin, and not the site's ``register``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import get_fields_from_path, unquote
from django.contrib.admin.views.main import ERROR_FLAG, IGNORED_PARAMS, PAGE_VAR, ChangeList
from django.contrib.auth import get_permission_codename, get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template import TemplateDoesNotExist, engines
from django.template.loader import select_template
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.text import format_lazy, smart_split, unescape_string_literal
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from . import services
from .models import DeviceSession, RevokeReason, active_at, model_has_field
from .storage import table_estimate

try:
    from django.contrib.admin.exceptions import NotRegistered
except ImportError:  # Django 4.2
    from django.contrib.admin.sites import NotRegistered  # type: ignore[attr-defined,no-redef]

__all__ = [
    "DeviceSessionAdmin",
    "DeviceSessionInline",
    "EstimatedCountPaginator",
    "LogoutEverywhereAdminMixin",
    "SessionStatusFilter",
    "UserSessionsAdminMixin",
    "add_logout_everywhere_action",
    "has_logout_everywhere_action",
    "logout_everywhere_action",
]

ACTIVE, REVOKED, EXPIRED = "active", "revoked", "expired"
STATUS_LABELS = {ACTIVE: _("Active"), REVOKED: _("Revoked"), EXPIRED: _("Expired")}


def session_status(session: DeviceSession, now: datetime | None = None) -> str:
    """``"active"``, ``"revoked"`` or ``"expired"``, from the row alone (no query)."""
    if session.revoked_at is not None:
        return REVOKED
    return ACTIVE if session.is_active(now) else EXPIRED


def _can_revoke(request: HttpRequest) -> bool:
    # Revoking changes a session: the model's "change" permission. The admin never edits a
    # session otherwise (has_change_permission is False, so the change view is view-only).
    opts = DeviceSession._meta
    return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")


def _user_search_fields() -> list[str]:
    user_model = get_user_model()
    fields = [user_model.USERNAME_FIELD]
    email = user_model.get_email_field_name()
    if email not in fields and model_has_field(user_model, email):
        fields.append(email)
    return fields


#: Up to this many users matching a search term are looked up first and compared by id.
SEARCH_USER_IDS_LIMIT = 500


def _search_users(term: str) -> Q:
    condition = Q()
    for name in _user_search_fields():
        condition |= Q(**{f"{name}__icontains": term})
    users = get_user_model()._default_manager.filter(condition).values_list("pk", flat=True)
    # The matching ids, read first, are literal values the planner can estimate (a
    # subquery under an OR is guessed to match half the table, which turns the admin's
    # LIMITed queries into long index walks) and that use the (user, revoked_at) index.
    ids = list(users[: SEARCH_USER_IDS_LIMIT + 1])
    if len(ids) > SEARCH_USER_IDS_LIMIT:
        return Q(user__in=users)
    return Q(user__in=ids)


def _is_ip(term: str) -> bool:
    try:
        ipaddress.ip_address(term)
    except ValueError:
        return False
    return True


def _search_ip(term: str) -> Q:
    if _is_ip(term):
        return Q(ip_address=term)
    # "ip:10.1." asks for a prefix (a scan of the table).
    return Q(ip_address__istartswith=term)


def _search_device(term: str) -> Q:
    return Q(device_label__icontains=term) | Q(name__icontains=term)


_SESSION_SEARCH_FIELDS = ("ip_address", "device_label", "name")
_SEARCH_SCOPES: dict[str, Callable[[str], Q]] = {
    "user": _search_users,
    "ip": _search_ip,
    "device": _search_device,
}

# -- What the list accepts from a query string -------------------------------------------
#
# The changelist's filters and search send what a staff member types (or a crafted link
# they follow) to the database. A value the database cannot take is refused before any
# query rather than answered with a 500: PostgreSQL rejects a NUL in any text parameter,
# no driver encodes a lone surrogate, SQLite gives up on a search of a thousand terms.

#: Longest value of the query string the list reads (a search, a filter's choice or date):
#: far above any real one.
MAX_QUERY_VALUE_LENGTH = 1000
#: Most terms a search may have; each unscoped one is a query of the user table.
MAX_SEARCH_TERMS = 10
#: Characters no value may hold: control characters but the tab, line feed and carriage
#: return (whitespace between search terms), and surrogates. Django decodes the query
#: string with replacement characters, so a surrogate comes only from Python callers.
_NOT_QUERY_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def is_query_text(value: str) -> bool:
    """True if ``value`` may reach the database as a search term or a filter's value."""
    return len(value) <= MAX_QUERY_VALUE_LENGTH and _NOT_QUERY_TEXT.search(value) is None


def _is_date_bound(value: str) -> bool:
    """A date filter's bound as the filter writes it: a datetime, with its UTC offset when
    ``USE_TZ`` is on (a naive one is read in the current time zone, with a warning), in
    years 2 to 9998 (no time zone conversion takes it out of ``datetime``'s range)."""
    try:
        bound = parse_datetime(value)
    except ValueError:  # well-formed, but no such date ("2024-02-30")
        return False
    if bound is None or (settings.USE_TZ and timezone.is_naive(bound)):
        return False
    return 1 < bound.year < 9999


def _is_selection(model_admin: admin.ModelAdmin, request: HttpRequest) -> bool:
    """True if every object id posted with an action is one the model's key can hold.

    Django filters ``pk__in`` with the posted strings as they are: a malformed UUID (or an
    integer past the column's range) raises there, a 500, before any action runs.
    """
    pk = model_admin.model._meta.pk
    assert pk is not None
    for value in request.POST.getlist(ACTION_CHECKBOX_NAME):
        if not is_query_text(value):
            return False
        try:
            key = pk.clean(value, None)
        except ValidationError:
            return False
        # Django 4.2 checks no range for an integer key on SQLite: past 64 bits the
        # query raises OverflowError.
        if isinstance(key, int) and not -(2**63) <= key < 2**63:
            return False
    return True


def _action_on_a_valid_selection(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    respond: Callable[[], HttpResponse | None],
) -> HttpResponse | None:
    """``respond()`` (Django's ``response_action``) if every posted id is one the key can
    hold; else nothing is selected, with Django's own words for it (not a 500)."""
    if _is_selection(model_admin, request):
        return respond()
    model_admin.message_user(
        request,
        gettext(
            "Items must be selected in order to perform actions on them. No items have "
            "been changed."
        ),
        messages.WARNING,
    )
    return None


class SessionStatusFilter(admin.SimpleListFilter):
    """Active / revoked / expired, from the session's own columns (no join)."""

    title = _("status")
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return list(STATUS_LABELS.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        value = self.value()
        if value == ACTIVE:
            return queryset.filter(active_at(timezone.now()))
        if value == REVOKED:
            return queryset.filter(revoked_at__isnull=False)
        if value == EXPIRED:  # neither revoked nor active
            return queryset.filter(revoked_at__isnull=True).exclude(active_at(timezone.now()))
        return queryset


class EstimatedCountPaginator(Paginator):
    """A paginator that never runs an unbounded ``COUNT(*)``.

    Django's admin counts the filtered queryset on every changelist page; on a table of
    millions of sessions that count is the slow part. This paginator:

    - unfiltered, on PostgreSQL, with a table larger than ``exact_count_limit``: returns
      the planner's estimate, ``pg_class.reltuples`` (kept fresh by autovacuum), one
      catalogue lookup;
    - otherwise counts at most ``exact_count_limit + 1`` rows,
      ``SELECT COUNT(*) FROM (SELECT … LIMIT n)``: exact for small results, and "more
      than the limit" for big ones, found after reading that many rows at most.

    Past the limit the count, so the page count, is approximate: narrow the list with a
    filter or a search rather than paging that deep.
    """

    exact_count_limit = 10_000

    @cached_property
    def count(self) -> int:
        """The number of rows, exact up to ``exact_count_limit``, estimated beyond."""
        object_list = self.object_list
        if not isinstance(object_list, QuerySet):
            return len(object_list)
        if not object_list.query.where and not object_list.query.distinct:
            estimate = self._table_estimate(object_list)
            if estimate > self.exact_count_limit:
                return estimate
        return object_list.order_by()[: self.exact_count_limit + 1].count()

    @staticmethod
    def _table_estimate(queryset: QuerySet[Any]) -> int:
        # -1 (another database, or a table never analysed): the bounded count answers.
        return table_estimate(queryset)


_REVOKE_TEMPLATE = (
    '{% extends "admin/base_site.html" %}{% load i18n admin_urls %}'
    "{% block bodyclass %}{{ block.super }} app-{{ opts.app_label }} "
    "model-{{ opts.model_name }} delete-confirmation{% endblock %}"
    '{% block breadcrumbs %}<div class="breadcrumbs">'
    "<a href=\"{% url 'admin:index' %}\">{% translate 'Home' %}</a> &rsaquo; "
    "<a href=\"{% url 'admin:app_list' app_label=opts.app_label %}\">"
    "{{ opts.app_config.verbose_name }}</a> &rsaquo; "
    "<a href=\"{% url opts|admin_urlname:'changelist' %}\">"
    "{{ opts.verbose_name_plural|capfirst }}</a> &rsaquo; {{ title }}</div>{% endblock %}"
    "{% block content %}<p>"
    "{% blocktranslate trimmed with name=session.display_name user=session.user %}"
    "Revoke the session “{{ name }}” of {{ user }}? Its refresh token stops working at once, "
    "and its access tokens at their next request."
    "{% endblocktranslate %}</p>"
    '<ul><li>{% translate "IP address" %}: {{ session.ip_address|default:"—" }}</li>'
    '<li>{% translate "Created" %}: {{ session.created_at }}</li>'
    '<li>{% translate "Last seen" %}: {{ session.last_seen_at }}</li></ul>'
    '<form method="post">{% csrf_token %}'
    '<input type="hidden" name="next" value="{{ next }}">'
    '<input type="submit" value="{% translate \'Revoke\' %}"> '
    '<a href="{{ next|default:\'../\' }}" class="button cancel-link">{% translate "Cancel" %}</a>'
    "</form>{% endblock %}"
)


@admin.register(DeviceSession)
class DeviceSessionAdmin(admin.ModelAdmin):
    """Support staff see and revoke sessions; nothing here can forge or edit a token.

    Built for large tables: the list makes the same handful of queries whatever the number
    of rows shown (the user is joined, the status is computed from the row), never runs an
    unbounded ``COUNT(*)`` (:class:`EstimatedCountPaginator`), and its ordering, filters
    and sortable columns are served by indexes.
    """

    list_display = (
        "user",
        "device",
        "ip_address",
        "created_at",
        "last_seen_at",
        "expires",
        "status",
        "revoke_reason",
    )
    list_display_links = ("device",)
    list_filter = (SessionStatusFilter, "revoke_reason", "created_at")
    list_select_related = ("user",)
    # Each of these orderings is an index scan; sorting a million rows by anything else is not.
    sortable_by = ("created_at", "last_seen_at", "expires")
    readonly_fields = (
        *(f.name for f in DeviceSession._meta.fields),
        "status",
        "revoke_link",
    )
    actions = ["revoke_selected"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    if hasattr(admin, "ShowFacets"):  # Django 5.0+: facet counts are one COUNT per choice.
        show_facets = admin.ShowFacets.NEVER
    #: Template of the one-session revoke page; the built-in one is used if it is missing.
    revoke_confirmation_template = "admin/token_sessions/devicesession/revoke_confirmation.html"

    search_help_text = format_lazy(
        _(
            "Username or e-mail (any part), device label or name (any part), or an IP "
            "address. Prefix a term with user:, device: or ip: to search only that "
            "(user:alice is fastest); ip:10.1. matches a prefix. Up to {count} terms."
        ),
        count=MAX_SEARCH_TERMS,
    )

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        """Username (the user model's ``USERNAME_FIELD``), e-mail, IP, device label and name.

        Computed per call, not at import: the user model is swappable. The search itself
        is :meth:`get_search_results`; these names show the search box and document it.
        """
        return [*(f"user__{name}" for name in _user_search_fields()), *_SESSION_SEARCH_FIELDS]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        """Each term matches the user, the IP or the device; ``scope:term`` matches one.

        Unlike Django's default search (one ``OR`` of ``icontains`` over every field,
        through a join): the users matching a term are looked up first (in the user table)
        and their sessions found through the ``(user, revoked_at)`` index; an IP address
        is compared with the IP only, for equality. A term that is neither scoped nor an
        IP address also matches the device label and name, which reads the whole session
        table; ``user:`` and ``ip:`` terms never do.
        """
        terms = list(smart_split(search_term))
        if len(terms) > MAX_SEARCH_TERMS or not all(is_query_text(term) for term in terms):
            # Checked here too, not only by get_changelist_instance(): the admin's
            # autocomplete view searches with this method (a ForeignKey to sessions).
            return queryset.none(), False
        for term in terms:
            if term[:1] in {'"', "'"} and term[0] == term[-1] and len(term) > 1:
                term = unescape_string_literal(term)
            scope, colon, value = term.partition(":")
            if colon and value and scope.lower() in _SEARCH_SCOPES:
                condition = _SEARCH_SCOPES[scope.lower()](value)
            elif _is_ip(term):
                condition = _search_ip(term)
            else:
                condition = _search_users(term) | _search_device(term)
            queryset = queryset.filter(condition)
        return queryset, False

    def _query_parameters(self, request: HttpRequest) -> dict[str, Callable[[str], bool]]:
        """Every query parameter the list reads, with the rule for its values: the list's
        own (search, ordering, page…) and its filters' (a date filter's bounds must be
        dates; any other text picks a choice, or none)."""
        parameters: dict[str, Callable[[str], bool]] = dict.fromkeys(
            (*IGNORED_PARAMS, PAGE_VAR, ERROR_FLAG), is_query_text
        )
        item: Any
        for item in self.get_list_filter(request):
            spec: Any
            if isinstance(item, str | tuple | list):  # a field, or (field, filter class)
                path, filter_class = (item, None) if isinstance(item, str) else item
                field = get_fields_from_path(self.model, path)[-1]
                create = filter_class or admin.FieldListFilter.create
                spec = create(field, request, {}, self.model, self, field_path=path)
            else:  # a SimpleListFilter
                spec = item(request, {}, self.model, self)
            is_date = isinstance(spec, admin.DateFieldListFilter)
            for name in filter(None, spec.expected_parameters()):
                dated = is_date and not name.endswith("__isnull")
                parameters[name] = _is_date_bound if dated else is_query_text
        return parameters

    def get_changelist_instance(self, request: HttpRequest) -> ChangeList:
        """The list, if its query string holds only the parameters the list and its filters
        read, each with a value the database can take (:func:`is_query_text`, and a
        date for a date filter's bound).

        Otherwise ``IncorrectLookupParameters``, which the admin answers as it does a date
        it cannot parse: a redirect to ``?e=1``. Django would also let a hand-written URL
        filter by any column (``?ip_address=x``, ``?user_agent__regex=(``), which the
        database may answer with an error (not an IP address, not a regular expression).
        """
        rules = self._query_parameters(request)
        for key, values in request.GET.lists():
            rule = rules.get(key)
            if rule is None or not all(rule(value) for value in values):
                raise IncorrectLookupParameters(
                    gettext("Unusable parameter %(key)r.") % {"key": key}
                )
        return super().get_changelist_instance(request)

    def response_action(
        self, request: HttpRequest, queryset: QuerySet[Any], *args: Any, **kwargs: Any
    ) -> HttpResponse | None:
        """Django's, but posted ids that are no session ids select nothing (not a 500)."""
        respond = super().response_action
        return _action_on_a_valid_selection(
            self, request, lambda: respond(request, queryset, *args, **kwargs)
        )

    @admin.display(description=_("device"), ordering="device_label")
    def device(self, obj: DeviceSession) -> str:
        """The user's name for the device, else the label parsed from its user agent."""
        return obj.display_name

    @admin.display(description=_("expires"), ordering="idle_expires_at")
    def expires(self, obj: DeviceSession) -> datetime:
        """The earlier of the idle and the absolute expiry."""
        return obj.expires_at

    @admin.display(description=_("status"))
    def status(self, obj: DeviceSession) -> str:
        """Active, revoked or expired (from the row: no query)."""
        return str(STATUS_LABELS[session_status(obj)])

    @admin.display(description=_("revoke"))
    def revoke_link(self, obj: DeviceSession) -> str:
        """A link to the revoke page, for a session that is still active."""
        return _revoke_link(self.admin_site.name, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Sessions are created by logins only."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Viewable, never editable: the change view is a read-only view."""
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        """Revoking needs the model's "change" permission."""
        return _can_revoke(request)

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        """No bulk delete: "Revoke selected sessions" is the action; housekeeping is
        ``tokensessions_purge``. (``action_location``: Django 6.1+ passes it.)"""
        location: tuple[Any, ...] = () if action_location is None else (action_location,)
        actions: dict[str, Any] = super().get_actions(request, *location)
        actions.pop("delete_selected", None)
        return actions

    def delete_model(self, request: HttpRequest, obj: DeviceSession) -> None:
        """Deleting one session from its page revokes it first, so its tokens stop too."""
        services.revoke_session(obj.pk, reason=RevokeReason.ADMIN)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        """As :meth:`delete_model`, for a queryset."""
        services.revoke_sessions(queryset, RevokeReason.ADMIN)
        super().delete_queryset(request, queryset)

    @admin.action(description=_("Revoke selected sessions"), permissions=["revoke"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        """Revoke through the service layer so the access tokens stop working too."""
        count = services.revoke_sessions(queryset, RevokeReason.ADMIN)
        if count:
            self.message_user(
                request,
                ngettext(
                    "%(count)d session was revoked.", "%(count)d sessions were revoked.", count
                )
                % {"count": count},
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request, gettext("The selected sessions had already ended."), messages.WARNING
            )

    def get_urls(self) -> list[URLPattern]:
        """The model's URLs, plus ``<id>/revoke/`` (URL name ``…_devicesession_revoke``)."""
        opts = self.opts
        revoke = path(
            "<path:object_id>/revoke/",
            self.admin_site.admin_view(self.revoke_view),
            name=f"{opts.app_label}_{opts.model_name}_revoke",
        )
        return [revoke, *super().get_urls()]

    def revoke_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Revoke one session: GET asks for confirmation, POST (CSRF-checked) revokes.

        After the POST, redirects to ``next`` if it is a URL of this site, else to the
        session's page.
        """
        if not self.has_revoke_permission(request):
            raise PermissionDenied
        session = self.get_object(request, unquote(object_id))
        if session is None:
            raise Http404(gettext("No such device session."))
        next_url = request.POST.get("next", request.GET.get("next", ""))
        if not url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            next_url = ""
        if request.method == "POST":
            if services.revoke_session(session.pk, reason=RevokeReason.ADMIN):
                self.message_user(
                    request,
                    gettext("The session “%(name)s” of %(user)s was revoked.")
                    % {"name": session.display_name, "user": session.user},
                    messages.SUCCESS,
                )
            else:
                self.message_user(
                    request,
                    gettext("The session “%(name)s” had already ended.")
                    % {"name": session.display_name},
                    messages.WARNING,
                )
            if not next_url:
                next_url = reverse(
                    f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                    args=[session.pk],
                    current_app=self.admin_site.name,
                )
            return HttpResponseRedirect(next_url)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Revoke session"),
            "opts": self.opts,
            "session": session,
            "next": next_url,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self._revoke_template(), context)

    def _revoke_template(self) -> Any:
        try:
            return select_template([self.revoke_confirmation_template])
        except TemplateDoesNotExist:
            return engines["django"].from_string(_REVOKE_TEMPLATE)


def _revoke_link(site_name: str, session: DeviceSession, next_url: str = "") -> str:
    if not session.is_active():
        return "—"
    opts = DeviceSession._meta
    try:
        url = reverse(
            f"admin:{opts.app_label}_{opts.model_name}_revoke",
            args=[session.pk],
            current_app=site_name,
        )
    except NoReverseMatch:  # DeviceSessionAdmin is not registered on this site.
        return "—"
    if next_url:
        url = f"{url}?{urlencode({'next': next_url})}"
    return format_html('<a href="{}">{}</a>', url, gettext("Revoke"))


# --- The project's user admin -------------------------------------------------------------


@admin.action(description=_("Log out everywhere"), permissions=["change"])
def logout_everywhere_action(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Any]
) -> None:
    """Revoke every session of each selected user (reason ``admin``), with the services."""
    users = sessions = 0
    for user in queryset:
        sessions += services.logout_everywhere(user, reason=RevokeReason.ADMIN)
        users += 1
    users_part = ngettext(
        "%(count)d user was logged out everywhere",
        "%(count)d users were logged out everywhere",
        users,
    ) % {"count": users}
    sessions_part = ngettext(
        "%(count)d session revoked", "%(count)d sessions revoked", sessions
    ) % {"count": sessions}
    modeladmin.message_user(
        request,
        gettext("%(users)s (%(sessions)s).") % {"users": users_part, "sessions": sessions_part},
        messages.SUCCESS,
    )


# The action's name in the changelist form; unlikely to collide with a project's own.
logout_everywhere_action.__name__ = "token_sessions_logout_everywhere"


def has_logout_everywhere_action(model_admin: admin.ModelAdmin) -> bool:
    """True if ``model_admin`` offers :func:`logout_everywhere_action` (in its ``actions``,
    or as an action of its whole site)."""
    site_actions = (action for _, action in model_admin.admin_site.actions)
    return any(
        action is logout_everywhere_action
        for action in (*(model_admin.actions or ()), *site_actions)
    )


def add_logout_everywhere_action(
    site_or_model_admin: admin.AdminSite | admin.ModelAdmin,
) -> admin.ModelAdmin:
    """Give a user admin the "Log out everywhere" action; return that model admin.

    For a project that keeps the user admin it has (Django's ``UserAdmin`` as
    ``django.contrib.auth`` registers it, or its own) rather than mixing in
    :class:`LogoutEverywhereAdminMixin`. In the project's ``admin.py``, once the user
    model is registered (``django.contrib.auth`` listed before the project's app)::

        add_logout_everywhere_action(admin.site)

    Given a site, the model admin registered there for the user model changes (else
    ``NotRegistered``); given a model admin, that one. The action is appended to that
    instance's ``actions``: its class, and any other site, are left as they are. A second
    call changes nothing. (The mixin also answers a forged id posted with an action by
    selecting nothing; a user admin left as it is answers, as for Django's own delete
    action, with a server error.)
    """
    if isinstance(site_or_model_admin, admin.AdminSite):
        site, user_model = site_or_model_admin, get_user_model()
        if user_model not in site._registry:
            raise NotRegistered(
                f"{user_model._meta.label} is not registered on the admin site {site.name!r}: "
                "register it before adding the action."
            )
        model_admin = site._registry[user_model]
    else:
        model_admin = site_or_model_admin
    if not has_logout_everywhere_action(model_admin):
        model_admin.actions = [*(model_admin.actions or ()), logout_everywhere_action]
    return model_admin


class DeviceSessionInline(admin.TabularInline):
    """A user's **active** sessions, read-only, each with a link to revoke it.

    Only active sessions: a long-lived account may have thousands of ended ones, which
    belong in the device-session list (search it by username), not in a form.
    """

    model = DeviceSession
    fk_name = "user"
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = _("active device sessions")
    fields = ("device", "ip_address", "created_at", "last_seen_at", "expires", "revoke")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        """Active sessions only, most recently seen first."""
        queryset: QuerySet[Any] = super().get_queryset(request)
        return queryset.filter(active_at(timezone.now()))

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Sessions are created by logins only."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Read-only: revocation has its own page."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Revoke, never delete."""
        return False

    @admin.display(description=_("device"))
    def device(self, obj: DeviceSession) -> str:
        """The user's name for the device, else the parsed label."""
        return obj.display_name

    @admin.display(description=_("expires"))
    def expires(self, obj: DeviceSession) -> datetime:
        """The earlier of the idle and the absolute expiry."""
        return obj.expires_at

    @admin.display(description=_("revoke"))
    def revoke(self, obj: DeviceSession) -> str:
        """Link to the revoke page (a POST with CSRF there), coming back to this user."""
        user_opts = get_user_model()._meta
        try:
            back = reverse(
                f"admin:{user_opts.app_label}_{user_opts.model_name}_change",
                args=[obj.user_id],
                current_app=self.admin_site.name,
            )
        except NoReverseMatch:
            back = ""
        return _revoke_link(self.admin_site.name, obj, back)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        """The revoke column only for who may revoke (the revoke page checks it again)."""
        fields = list(super().get_fields(request, obj))
        if not _can_revoke(request):
            fields.remove("revoke")
        return fields


if TYPE_CHECKING:
    _UserAdminBase = admin.ModelAdmin
else:
    _UserAdminBase = object


class LogoutEverywhereAdminMixin(_UserAdminBase):
    """Mix into the project's user admin for the "Log out everywhere" action.

    ``class MyUserAdmin(LogoutEverywhereAdminMixin, UserAdmin): ...``, registered on any
    admin site. The action comes after the admin's own ``actions``. A posted selection
    that holds no user id (a malformed one) selects nothing, as with no selection, rather
    than failing in the database.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        add_logout_everywhere_action(self)

    def response_action(
        self, request: HttpRequest, queryset: QuerySet[Any], *args: Any, **kwargs: Any
    ) -> HttpResponse | None:
        """Django's, but posted ids that are no user ids select nothing (not a 500)."""
        respond = super().response_action
        return _action_on_a_valid_selection(
            self,
            request,
            lambda: respond(request, queryset, *args, **kwargs),
        )


class UserSessionsAdminMixin(LogoutEverywhereAdminMixin):
    """:class:`LogoutEverywhereAdminMixin`, plus the user's active sessions inline.

    ``class MyUserAdmin(UserSessionsAdminMixin, UserAdmin): ...``. Adds
    :class:`DeviceSessionInline` (``device_session_inline``) to the change page, not the
    add page.
    """

    device_session_inline: type[admin.options.InlineModelAdmin] = DeviceSessionInline

    def get_inlines(self, request: HttpRequest, obj: Any) -> list[Any]:
        """The admin's own inlines, plus the sessions inline when editing a user."""
        inlines = list(super().get_inlines(request, obj))
        if obj is not None and self.device_session_inline not in inlines:
            inlines.append(self.device_session_inline)
        return inlines
