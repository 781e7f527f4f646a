"""The dealer portal speaks French unless the dealer chose English (the FR / EN buttons, kept in
the language cookie): a browser's Accept-Language does not decide for them. The admin and the
API keep following Accept-Language (French when it says nothing we speak)."""

from django.middleware.locale import LocaleMiddleware

NEGOTIATED = ("/admin/", "/api/")


class PortalLocaleMiddleware(LocaleMiddleware):
    def process_request(self, request):
        if not request.path_info.startswith(NEGOTIATED):
            request.META.pop("HTTP_ACCEPT_LANGUAGE", None)
        super().process_request(request)
