"""Model actions an HMI offers with one tap, signed by re-entering the PIN (an electronic signature).

:func:`rollback_signed` is what a "roll back to last-known-good" button calls:
the user's PIN is checked again against the station's sealed accounts (wrong
PINs count towards the account's lockout), the user must be a quality
engineer or an admin, a reason is required, and the audit entry records who
signed, how, and why.
"""

from __future__ import annotations

from typing import Protocol

from inspector.errors import ModelError
from inspector.modelops.registry import PRIMARY, ModelRegistry

MODEL_ROLES = ("quality", "admin")
PIN_SIGNATURE = "PIN re-entered"


class _User(Protocol):
    name: str
    role: str


class Accounts(Protocol):
    """What is needed of the HMI's account directory (:class:`hmi.users.UserDirectory`)."""

    def verify(self, name: str, pin: str) -> _User: ...


def rollback_signed(registry: ModelRegistry, accounts: Accounts, name: str, pin: str, reason: str,
                    slot: str = PRIMARY) -> str:
    """Roll ``slot`` back to its last-known-good model, signed by ``name`` with their PIN; returns what runs now.

    Raises the account directory's error for an unknown user, a wrong PIN or a locked account, and
    :class:`ModelError` for a role that may not, or a missing reason."""
    if not reason.strip():
        raise ModelError("a rollback needs a reason, for the audit trail")
    user = accounts.verify(name, pin)
    if user.role not in MODEL_ROLES:
        registry.trail.record(user.name, "model_rollback_denied", slot, None, {"role": user.role, "reason": reason})
        raise ModelError(f"{user.name} ({user.role}) may not roll back a model: a quality engineer or an admin signs it")
    return registry.rollback(user.name, slot, reason, signature=PIN_SIGNATURE)
