"""Errors the gateway answers with, always in OpenAI's error envelope.

    ProxyError (status, type, code)
     ├── BadRequest            400  invalid_request_error   malformed JSON, wrong shape
     ├── PayloadTooLarge       413  invalid_request_error
     ├── UnsupportedMediaType  415  invalid_request_error   unknown Content-Encoding
     ├── AuthenticationFailed  401  authentication_error    missing, unknown or revoked key
     ├── PermissionDenied      403  permission_error        admin-only routes
     ├── NotFoundError         404  not_found_error
     ├── Conflict              409  invalid_request_error   already exists
     ├── BudgetExceeded        429  budget_exceeded
     ├── ProvidersExtraMissing 501  server_error            litellm not installed
     ├── UpstreamError         502  upstream_error          unreachable upstream
     │    └── UpstreamTimeout  504  upstream_timeout
     └── UsageUnrecordable     503  server_error            no usage row could be persisted

Upstream 4xx/5xx answers are not errors of ours: they are relayed as they came.
"""

from __future__ import annotations

import orjson


class ProxyError(Exception):
    status = 500
    type = "server_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def body(self) -> bytes:
        return error_body(self.message, type=self.type, code=self.code, param=self.param)


class BadRequest(ProxyError):
    status = 400
    type = "invalid_request_error"


class PayloadTooLarge(ProxyError):
    status = 413
    type = "invalid_request_error"
    code = "payload_too_large"


class UnsupportedMediaType(ProxyError):
    status = 415
    type = "invalid_request_error"
    code = "unsupported_content_encoding"


class AuthenticationFailed(ProxyError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(ProxyError):
    status = 403
    type = "permission_error"
    code = "forbidden"


class NotFoundError(ProxyError):
    status = 404
    type = "not_found_error"
    code = "not_found"


class Conflict(ProxyError):
    status = 409
    type = "invalid_request_error"
    code = "already_exists"


class BudgetExceeded(ProxyError):
    status = 429
    type = "budget_exceeded"
    code = "budget_exceeded"


class ProvidersExtraMissing(ProxyError):
    """A deployment reached through litellm, in an install without the `providers` extra."""

    status = 501
    type = "server_error"
    code = "providers_extra_missing"

    def __init__(self, cause: ImportError) -> None:
        super().__init__(
            "This model's provider is reached through litellm, which is not installed "
            f"({cause}): install Wattgate with the 'providers' extra "
            "(pip install 'wattgate[providers]')."
        )


class UpstreamError(ProxyError):
    status = 502
    type = "upstream_error"
    code = "upstream_unreachable"


class UpstreamTimeout(UpstreamError):
    status = 504
    type = "upstream_error"
    code = "upstream_timeout"


class UsageUnrecordable(ProxyError):
    status = 503
    type = "server_error"
    code = "usage_unrecordable"


def error_body(
    message: str, *, type: str, code: str | None = None, param: str | None = None
) -> bytes:
    """OpenAI's `{"error": {...}}` envelope, serialised."""
    return orjson.dumps({"error": {"message": message, "type": type, "param": param, "code": code}})
