"""What several admin modules share: the site's layout choice and how amounts are typed."""

from django.contrib import admin
from django.db import models

# No navigation column beside every page: the lists (chats, customers, tariffs) need the width
# at 1440 px; the home page lists every section and the breadcrumbs lead back to it.
admin.site.enable_nav_sidebar = False

# Amounts and rates typed as the page's language writes them ("20,00" in French, as the lists
# show them), not in the HTML number input's dotted form.
LOCALIZED_DECIMALS = {models.DecimalField: {"localize": True}}
