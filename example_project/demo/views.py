"""The demo account page. Everything after the first paint happens in demo/account.js."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET


@require_GET
@never_cache
@ensure_csrf_cookie
def account(request: HttpRequest) -> HttpResponse:
    """Serve the page shell and make sure the JS-readable ``csrftoken`` cookie exists.

    Refresh and logout take the refresh token from an HttpOnly cookie and then require
    Django's double-submit CSRF header, so the page needs the CSRF cookie before its first
    silent refresh. No user data is rendered here: the page is the same for everyone.
    """
    return render(request, "demo/account.html")
