"""Helpers of the test suite, by what they are for (fixtures live in tests/conftest.py).

- ``clients``: ``PASSWORD`` of the test users, the ``FIREFOX_LINUX`` user agent, and API
  clients: ``bearer(access)`` (a client sending the access token), ``refresh(raw)`` (a
  refresh request with the token in the body).
- ``signals``: ``catch_signal(signal)``, which records what a block sends.
- ``backends``: ``BACKENDS``, the dotted path of each shipped revocation backend by a short
  name, and ``rebuild_may_run_now()``, which lifts the marker rebuild's rate limit.
- ``counting_cache``: ``CountingLocMemCache``, the cache of tests/settings.py, which counts
  round trips (the ``cache_calls`` fixture reads them).
- ``example_server``: the example project served over HTTP in a subprocess (``serve``, the
  ``example_server`` fixture), its ``DEMO`` login and ``Http``, a client with cookies.
- ``gunicorn_example``: the example project under gunicorn on PostgreSQL and Redis
  (``serve``, ``example_database``, ``by_worker``, ``require_stack``, ``wait_for``).
- ``faults``: ``RedisServer``, a redis-server of a test's own to stop and start, and
  ``Partition``, a TCP proxy that cuts the network in front of it.

The benchmark of the admin changelist on a big table is not a test: it lives in
benchmarks/ (``python -m benchmarks.perf_admin_changelist``).
"""
