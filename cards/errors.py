"""Errors of the cards domain."""

from core.errors import N_, DomainError


class RedemptionFailed(DomainError):
    """One message whatever went wrong (unknown serial, wrong PIN, used, expired, locked), so an
    attacker learns nothing from it (R-15)."""

    message = N_("The card could not be redeemed. Check the serial and PIN, or try again later.")
