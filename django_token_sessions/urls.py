"""``path("api/auth/", include("django_token_sessions.urls"))``. URL names are public API."""

from django.urls import path

from . import views

app_name = "token_sessions"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("refresh/", views.RefreshView.as_view(), name="refresh"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("logout-all/", views.LogoutAllView.as_view(), name="logout-all"),
    path("sessions/", views.SessionListView.as_view(), name="session-list"),
    # str, not uuid: a malformed or upper-case id reaches the view, which answers JSON.
    path("sessions/<str:pk>/", views.SessionDetailView.as_view(), name="session-detail"),
]
