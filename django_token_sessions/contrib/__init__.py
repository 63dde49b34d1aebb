"""Optional parts of django-token-sessions, each a Django app a project adds to
``INSTALLED_APPS`` only if it needs it (the ``django.contrib`` pattern)."""
