"""Admin for clients, profiles and runs — the product's main screens.

Thin: forms live in ``profiles.forms``, button views in ``profiles.admin_views``, reads for
the dashboard and run pages in ``profiles.dashboard``. The admin index is the dashboard.
One module a screen (:mod:`.clients`, :mod:`.profiles`, :mod:`.runs`); importing this
package registers them with ``admin.site``.
"""

from __future__ import annotations

from django.contrib import admin

from profiles.admin.base import ButtonUrlsMixin
from profiles.admin.clients import ClientAdmin
from profiles.admin.profiles import ProfileAdmin
from profiles.admin.runs import RunAdmin
from profiles.templatetags.contactsync import chip

admin.site.site_header = "Contact Sync"
admin.site.site_title = "Contact Sync"
admin.site.index_title = "Dashboard"
admin.site.index_template = "admin/contactsync/index.html"
# The header navigation replaces the nav sidebar, leaving the tables their full width.
admin.site.enable_nav_sidebar = False

__all__ = ["ButtonUrlsMixin", "ClientAdmin", "ProfileAdmin", "RunAdmin", "chip"]
