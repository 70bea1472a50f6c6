"""The base error that services raise; one handler turns it into a JSON answer."""

from __future__ import annotations

from typing import Any


class FilegateError(Exception):
    """A failure a client can be told about: an HTTP status, a code and details."""

    status_code = 400
    error = "bad_request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def to_body(self) -> dict[str, Any]:
        return {"error": self.error, "detail": self.detail, **self.extra}

    def headers(self) -> dict[str, str]:
        """HTTP headers the answer needs beside its body."""
        return {}


class InvalidRequest(FilegateError):
    status_code = 422
    error = "invalid_request"


class NotFound(FilegateError):
    status_code = 404
    error = "not_found"


class Gone(FilegateError):
    status_code = 410
    error = "gone"


class Conflict(FilegateError):
    status_code = 409
    error = "conflict"


class TooLarge(FilegateError):
    status_code = 413
    error = "too_large"


class Forbidden(FilegateError):
    status_code = 403
    error = "forbidden"


class Unavailable(FilegateError):
    status_code = 503
    error = "unavailable"
