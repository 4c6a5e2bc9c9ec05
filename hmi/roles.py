"""Roles, what each may do, and the HMI's errors.

Three roles, each a superset of the one before: the line ``operator`` sees
the line and marks rejects, the ``quality`` engineer also reviews, relabels
and exports datasets, sees the model, drift and reports screens, rolls a model back, enters escapes and shelves alarms, the ``admin`` (integrator) also manages users. Every
screen and every state-changing action asks :func:`allowed` first.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal, get_args

from inspector.errors import InspectorError

Role = Literal["operator", "quality", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
ROLE_TITLES: dict[str, str] = {"operator": "Operator", "quality": "Quality engineer", "admin": "Integrator / admin"}


class Permission(str, Enum):
    VIEW_OPERATOR = "view the operator screen"
    MARK_REJECT = "mark a reject as false or confirmed"
    ACK_ALARM = "acknowledge alarms"
    SHELVE_ALARM = "shelve an alarm for a while, with a reason"
    VIEW_REVIEW = "open the review screen"
    RELABEL = "relabel images"
    EXPORT_DATASET = "export a dataset version"
    VIEW_QUALITY = "open the model, drift and reports screens"
    ROLLBACK_MODEL = "roll a model back to last-known-good"
    REPORT_ESCAPE = "enter an escaped defect"
    MANAGE_USERS = "manage users"


_OPERATOR = {Permission.VIEW_OPERATOR, Permission.MARK_REJECT, Permission.ACK_ALARM}
_QUALITY = _OPERATOR | {Permission.VIEW_REVIEW, Permission.RELABEL, Permission.EXPORT_DATASET, Permission.VIEW_QUALITY,
                        Permission.ROLLBACK_MODEL, Permission.REPORT_ESCAPE, Permission.SHELVE_ALARM}
GRANTS: dict[str, frozenset[Permission]] = {
    "operator": frozenset(_OPERATOR),
    "quality": frozenset(_QUALITY),
    "admin": frozenset(Permission),
}


def allowed(role: str | None, permission: Permission) -> bool:
    """Whether ``role`` (None: nobody logged in) may do ``permission``."""
    return role is not None and permission in GRANTS.get(role, frozenset())


class HmiError(InspectorError):
    """An HMI action could not be done (bad input, missing part, database problem)."""


class AccessDenied(HmiError):
    """The logged-in user's role does not allow the action (or nobody is logged in)."""


class LoginFailed(HmiError):
    """Unknown user or wrong PIN."""
