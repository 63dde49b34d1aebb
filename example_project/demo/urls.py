"""``path("", include("demo.urls"))``: the account page at the site root."""

from django.urls import path

from . import views

app_name = "demo"

urlpatterns = [path("", views.account, name="account")]
