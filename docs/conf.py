"""Sphinx configuration of the django-token-sessions documentation (``tox -e docs``).

Built with ``-W --keep-going -n``: every warning fails the build, and with ``nitpicky`` a
cross-reference to a Python object or a page that does not exist is a warning. MyST reports
a Markdown link to a missing page or heading (``myst.xref_missing``) the same way, so the
internal links are checked on every build. External links are not: CI reaches PyPI only, so
``linkcheck`` would fail on the network, not on the docs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import django

DOCS = Path(__file__).resolve().parent
# _ext for our own directives; the repository root for tests.settings, *after*
# site-packages, so autodoc documents the installed package as tox builds it.
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.append(str(DOCS.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django.setup()

project = "django-token-sessions"
author = "django-token-sessions developers"
copyright = "django-token-sessions developers"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "tokensessions_docs",
]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "screenshots"]

# Markdown: GitHub-style heading anchors, so `page.md#a-heading` links are checked too.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

nitpicky = True
# Types in signatures that belong to other projects and have no inventory we can reach.
nitpick_ignore_regex = [
    # Private bases shown by show-inheritance.
    ("py:class", r"django_token_sessions\..*\._\w+"),
    ("py:class", r"HttpRequest|HttpResponseBase|Response|Token|AbstractBaseUser"),
    ("py:class", r"(django|rest_framework|rest_framework_simplejwt|redis|django_redis)\..*"),
    ("py:class", r"(datetime|uuid|collections\.abc|typing)\..*"),
]

autodoc_default_options = {"show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"

html_theme = "furo"
html_title = "django-token-sessions"
