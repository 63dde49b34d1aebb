"""Create (or reset) the demo user and print how to sign in."""

import os
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"


class Command(BaseCommand):
    help = "Create the demo user (demo / demo-password) and print how to sign in."

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        user, _ = user_model.objects.get_or_create(
            username=DEMO_USERNAME, defaults={"email": "demo@example.com"}
        )
        user.set_password(DEMO_PASSWORD)
        user.is_active = True
        user.is_staff = True
        user.is_superuser = True
        user.save()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo user ready. Open http://127.0.0.1:{os.environ.get('DEMO_PORT', '8000')}/ "
                f"and sign in as "
                f"{DEMO_USERNAME} / {DEMO_PASSWORD} (the admin at /admin/ takes it too)."
            )
        )
