"""Adopting plain simplejwt tokens (no ``sid`` claim) when a project switches to this package.

A project that already handed out simplejwt tokens adds ``"django_token_sessions.contrib.legacy"``
to ``INSTALLED_APPS`` and runs ``migrate``: installing the app is the opt-in, there is no
setting. From then on, a legacy refresh token presented to the refresh endpoint is exchanged,
**once**, for a new device session (:mod:`.exchange`); its JTI is recorded
(:class:`~.models.LegacyTokenExchange`) so a second use is refused, and it is blacklisted in
simplejwt's own tables when its ``token_blacklist`` app is installed.
:class:`~.authentication.LegacyJWTAuthentication`, listed before ``SessionJWTAuthentication``,
also accepts legacy access tokens meanwhile.

Once the longest-lived legacy refresh token has expired, the project runs
``manage.py migrate token_sessions_legacy zero`` and removes the app (and
``LegacyJWTAuthentication``): the refresh path then has no code of it.
"""
