"""Admin for API tokens: created with the token shown once, revoked, never edited or deleted."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from billing.models import ApiToken
from billing.usage.tokens import api_token_create, api_token_revoke


class ApiTokenAddForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ("source",)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("source", "prefix", "created_at", "created_by", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("source", "prefix")
    actions = ["revoke"]
    form = ApiTokenAddForm

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("source", "prefix", "created_at", "created_by", "last_used_at", "revoked_at")

    def has_change_permission(self, request, obj=None):
        return False  # a token is created or revoked, never edited

    def has_delete_permission(self, request, obj=None):
        return False  # revoked tokens are kept: they say who sent what

    def has_revoke_permission(self, request):
        return request.user.has_perm("billing.add_apitoken")

    def save_model(self, request, obj, form, change):
        token, raw = api_token_create(source=obj.source, user=request.user)
        obj.pk = token.pk
        obj.raw_token = raw

    def response_add(self, request, obj, post_url_continue=None):
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("API token created"),
            "opts": self.model._meta,
            "token": obj,
            "raw_token": obj.raw_token,
            "changelist_url": reverse("admin:billing_apitoken_changelist"),
        }
        response = TemplateResponse(request, "admin/billing/apitoken/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description=_("Revoke the selected tokens"), permissions=["revoke"])
    def revoke(self, request, queryset):
        count = api_token_revoke(tokens=queryset)
        self.message_user(
            request,
            ngettext("%(count)d token revoked.", "%(count)d tokens revoked.", count)
            % {"count": count},
            messages.SUCCESS,
        )
        return redirect(request.get_full_path())
