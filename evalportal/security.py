"""Security headers Django 5.2 does not set itself: a Content-Security-Policy that the
pages pass without inline scripts, a Permissions-Policy, and ``Cache-Control: no-store``
on every answer that does not say otherwise (static files do), so no browser or proxy
keeps a rating page, an API answer or an export."""

from django.conf import settings


def content_security_policy() -> str:
    directives = {
        "default-src": "'self'",
        # No inline script anywhere: every script is a static file.
        "script-src": "'self'",
        # plotly.js and htmx add <style> elements and style attributes at run time.
        "style-src": "'self' 'unsafe-inline'",
        "img-src": "'self' data: blob:",
        "font-src": "'self' data:",
        "connect-src": "'self'",
        "frame-ancestors": "'none'",
        "form-action": "'self'",
        "base-uri": "'self'",
        "object-src": "'none'",
    }
    directives.update(getattr(settings, "CONTENT_SECURITY_POLICY_EXTRA", {}))
    return "; ".join(f"{name} {value}" for name, value in directives.items())


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.csp = content_security_policy()

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.csp)
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
        response.headers.setdefault("Cache-Control", "no-store")
        return response
