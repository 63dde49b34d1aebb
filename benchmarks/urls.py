"""URLs of the benchmark: the admin, for the changelist table (the API views are called
directly, without URL resolving)."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
