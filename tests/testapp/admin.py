from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import UUIDUser

admin.site.register(UUIDUser, UserAdmin)
