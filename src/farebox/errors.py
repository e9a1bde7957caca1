"""Every error farebox answers with, one class per (HTTP status, OpenAI type, code).

`api/` renders each GatewayError once (`api/middleware.py`) as the OpenAI envelope
{"error": {"message", "type", "param", "code"}}. A class's status and code are fixed by the
class, never set on an instance afterwards; the one pass-through is UpstreamFailed, which takes
the upstream's status and code when it is made.

GatewayError                        500 server_error / internal_error
├── InvalidRequest                  400 invalid_request_error
│   ├── UnsupportedFeature              unsupported_feature
│   ├── ContextLengthExceeded           context_length_exceeded
│   └── NoCapableModel                  no_capable_model
├── InvalidApiKey                   401 invalid_api_key
├── InsufficientCredits             402 insufficient_quota / insufficient_credits
├── TierDoesNotAllowModel           403 tier_does_not_allow_model
├── AdminApiDisabled                403 permission_error / admin_api_disabled
├── ModelNotFound                   404 model_not_found
├── NotFound                        404 not_found
├── MethodNotAllowed                405 method_not_allowed
├── RequestTimeout                  408 request_timeout
├── ConflictError                   409 conflict
├── RequestTooLarge                 413 request_too_large
├── UnsupportedMediaType            415 unsupported_media_type
├── RateLimited                     429 rate_limit_error / rate_limited
├── UpstreamFailed                  502 api_error / upstream_error (or the upstream's own)
├── ModelUnavailable                503 model_unavailable
├── ServiceUnavailable              503 service_unavailable
└── InternalError                   500 internal_error

The other exception families stay inside their layer and are mapped at one boundary each:

providers.base.UpstreamError        an upstream's failure (.retryable): failover retries it or
                                    raises UpstreamFailed (pipeline/failover.py)
protocol.openai.RequestError        a request that breaks the wire schema: InvalidRequest
                                    (api/v1/chat_body.py)
protocol.sse.SSEError               a malformed upstream stream: UpstreamError (pipeline/dispatch.py)
services.operator.OperatorError     a refused operator action: InvalidRequest (api/admin/common.py,
├── RecordNotFound                  NotFound; the CLI prints any of them)
└── RecordConflict                  ConflictError
storage.repository.Conflict         a unique row taken: RecordConflict (services/operator.py)
config.ConfigError                  a bad farebox.yaml: one message and exit 1 (cli/)
storage.copy.CopyError              `farebox db copy` refused: one message and exit 1 (cli/db.py)
"""

from __future__ import annotations

SHOWN_CHARS = 200  # how much of a client's value an error message or a log line repeats


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """A client-supplied value as it may appear in a message or a log line: cut to `limit`
    characters, so a 2 MB model name never comes back as a 2 MB error."""
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


class GatewayError(Exception):
    status = 500
    type = "server_error"
    code = "internal_error"

    def __init__(self, message: str, *, param: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.headers = headers or {}


class InvalidRequest(GatewayError):
    status, type, code = 400, "invalid_request_error", "invalid_request_error"


class UnsupportedFeature(InvalidRequest):
    code = "unsupported_feature"


class ContextLengthExceeded(InvalidRequest):
    code = "context_length_exceeded"


class NoCapableModel(InvalidRequest):
    code = "no_capable_model"


class InvalidApiKey(GatewayError):
    status, type, code = 401, "invalid_request_error", "invalid_api_key"


class InsufficientCredits(GatewayError):
    status, type, code = 402, "insufficient_quota", "insufficient_credits"


class TierDoesNotAllowModel(GatewayError):
    status, type, code = 403, "invalid_request_error", "tier_does_not_allow_model"


class AdminApiDisabled(GatewayError):
    """The admin API answers this to everything when no admin key is configured."""

    status, type, code = 403, "permission_error", "admin_api_disabled"


class ModelNotFound(GatewayError):
    status, type, code = 404, "invalid_request_error", "model_not_found"


class NotFound(GatewayError):
    status, type, code = 404, "invalid_request_error", "not_found"


class MethodNotAllowed(GatewayError):
    status, type, code = 405, "invalid_request_error", "method_not_allowed"


class ConflictError(GatewayError):
    status, type, code = 409, "invalid_request_error", "conflict"


class RequestTimeout(GatewayError):
    status, type, code = 408, "invalid_request_error", "request_timeout"


class RequestTooLarge(GatewayError):
    status, type, code = 413, "invalid_request_error", "request_too_large"


class UnsupportedMediaType(GatewayError):
    status, type, code = 415, "invalid_request_error", "unsupported_media_type"


class RateLimited(GatewayError):
    status, type, code = 429, "rate_limit_error", "rate_limited"


class UpstreamFailed(GatewayError):
    """An upstream answered with a failure we pass on (after failover, when retryable)."""

    status, type, code = 502, "api_error", "upstream_error"

    def __init__(self, message: str, *, status: int = 502, code: str = "upstream_error",
                 type: str = "api_error", param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.status, self.code, self.type = status, code, type


class ModelUnavailable(GatewayError):
    status, type, code = 503, "api_error", "model_unavailable"


class ServiceUnavailable(GatewayError):
    status, type, code = 503, "api_error", "service_unavailable"


class InternalError(GatewayError):
    status, type, code = 500, "server_error", "internal_error"


def envelope(error: GatewayError) -> dict[str, object]:
    return {"error": {"message": error.message, "type": error.type, "param": error.param, "code": error.code}}
