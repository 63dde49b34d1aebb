"""Signals of django-token-sessions.

Every signal is sent by the service layer (never by views or the admin), **after the
transaction that made the change commits**, with ``sender=DeviceSession``. Receivers must
accept ``**kwargs``: arguments may be added in later releases.

Connect as usual::

    from django.dispatch import receiver
    from django_token_sessions.signals import refresh_token_reused

    @receiver(refresh_token_reused)
    def alert(sender, session_id, user_id, **kwargs): ...
"""

from django.dispatch import Signal

#: A login created a session. Arguments: ``session`` (the DeviceSession), ``user``.
session_created = Signal()

#: A refresh rotated a session's refresh token. Arguments: ``session_id``, ``user_id``
#: (the token's user id claim). Not sent for grace-window answers (nothing changed).
session_rotated = Signal()

#: Sessions were revoked (logout, a device revoked, the admin action, reuse, the session cap):
#: one signal per revoking call however many sessions it ended. Arguments: ``session_ids``
#: (list of UUIDs), ``reason`` (a RevokeReason value). Revoking all of a user's sessions
#: sends ``user_logged_out_everywhere`` instead.
session_revoked = Signal()

#: A rotated refresh token was replayed: probable theft; the session is now revoked (a
#: ``session_revoked`` with reason ``reuse_detected`` is sent too). Arguments:
#: ``session_id``, ``user_id``, ``jti`` (the replayed token's id).
refresh_token_reused = Signal()

#: Every session of a user was revoked at once (logout-all, password change, deactivation,
#: :func:`~django_token_sessions.services.logout_everywhere`), if there was any session to
#: revoke. Arguments: ``user``, ``reason``, ``count`` (sessions revoked, > 0),
#: ``kept_session_id`` (or None).
user_logged_out_everywhere = Signal()
