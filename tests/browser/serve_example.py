"""Serve the example project (API + demo page + static files) for the browser tests.

Run as ``python tests/browser/serve_example.py PORT_FILE`` after ``migrate`` and
``create_demo_user``. Binds 127.0.0.1 on a free port, writes the port to PORT_FILE once it
listens, and serves until killed: Django's threaded development WSGI server wrapped in
the static files handler, as LiveServerTestCase does, so no runserver autoreloader or
DEBUG-only static serving is involved. Settings come from the environment
(EXAMPLE_SQLITE_PATH, DEMO_ROTATION_GRACE_SECONDS, ...).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "example_project"


def main(port_file: str) -> None:
    sys.path.insert(0, str(EXAMPLE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example.settings")
    import django

    django.setup()
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application

    httpd = ThreadedWSGIServer(("127.0.0.1", 0), WSGIRequestHandler)
    httpd.set_app(StaticFilesHandler(get_wsgi_application()))
    port = httpd.server_address[1]
    tmp = Path(port_file + ".tmp")
    tmp.write_text(str(port))
    tmp.replace(port_file)  # atomic: the test never reads half a number
    httpd.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1])
