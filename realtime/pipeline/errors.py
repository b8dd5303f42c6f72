"""The one error type for bad input, shared by HTTP routes and socket events."""

from __future__ import annotations


class InputError(ValueError):
    """Input we refuse, with a stable `code` for clients and an HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message}
