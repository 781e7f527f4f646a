"""Response headers that say what a browser may do with our pages.

- The dealer portal's pages (the `portal` URL namespace: report, invoices, CSV, PDF and the short
  URLs) hold a dealer's financial data: `Cache-Control: private, no-store` (no shared cache keeps
  them, and the browser does not store them on disk), unless the view chose its own.
- A Content-Security-Policy on every HTML page but the admin's and the API's: the portal and the
  login pages run no JavaScript, load only our own CSS and images, and post only to us, so the
  policy allows exactly that. The chart and the gauge are SVG drawn with attributes, not inline
  styles (which `style-src 'self'` refuses).
- The admin keeps Django's JavaScript (and our admin templates' inline handlers): its policy only
  forbids framing, plugins, a changed `<base>` and posting elsewhere.
- The API answers JSON (no policy needed); its docs page runs Swagger UI's inline scripts.
"""

from __future__ import annotations

PORTAL_CSP = "; ".join(
    [
        "default-src 'none'",
        "style-src 'self'",
        "img-src 'self' data:",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
ADMIN_CSP = "; ".join(
    [
        "object-src 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
    ]
)
PRIVATE = "private, no-store"
ADMIN_PREFIX, API_PREFIX = "/admin/", "/api/"


def content_security_policy(path: str) -> str | None:
    """The policy of an HTML page at `path`."""
    if path.startswith(API_PREFIX):
        return None
    if path.startswith(ADMIN_PREFIX):
        return ADMIN_CSP
    return PORTAL_CSP


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        content_type = response.get("Content-Type", "")
        if content_type.startswith("text/html") and "Content-Security-Policy" not in response:
            policy = content_security_policy(request.path_info)
            if policy:
                response["Content-Security-Policy"] = policy
        match = getattr(request, "resolver_match", None)
        if match is not None and match.namespace == "portal" and "Cache-Control" not in response:
            response["Cache-Control"] = PRIVATE
        return response
