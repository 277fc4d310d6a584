"""Domain errors. Each carries an English message id (marked with N_ for translation) and
parameters; the web layer translates it and picks the status code."""

from __future__ import annotations


def N_(message: str) -> str:
    """Marks a string for extraction into the translation catalogs; translated later."""
    return message


class DomainError(Exception):
    message = N_("The request could not be carried out.")

    def __init__(self, message: str | None = None, **params: object) -> None:
        self.message = message or self.message
        self.params = params
        super().__init__(self.message % params if params else self.message)


class NotFound(DomainError):
    message = N_("Not found, or not yours to see.")


class Forbidden(DomainError):
    message = N_("You are not allowed to do that.")


class Conflict(DomainError):
    message = N_("That conflicts with the current state.")


class LoginFailed(DomainError):
    # One message for a wrong name, a wrong password, a locked or disabled account.
    message = N_("Login failed, or too many attempts: check your details and try again later.")


class OperationPasswordRejected(DomainError):
    message = N_("The operation password is wrong, not set, or locked after too many attempts.")


class ValidationFailed(DomainError):
    """Bad input: `errors` maps a field name to its message id; `params` fill its placeholders."""

    message = N_("Please correct the marked fields.")

    def __init__(self, errors: dict[str, str], **params: object) -> None:
        self.errors = errors
        super().__init__(None, **params)
