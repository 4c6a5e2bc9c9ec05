"""Who calls a method: the subject of the client's certificate (its X.509 identity token), for the audit trail.

asyncua hands a method's callback no session, so the user manager, called when
a session is activated, keeps the user's name in a context variable of the
connection's task: every request of that connection (its method calls too)
runs in that task and sees it. A session without a certificate (anonymous, only
with ``opcua.allow_anonymous``) is ``anonymous OPC UA client``.
"""

from __future__ import annotations

import contextvars

from asyncua.crypto import uacrypto
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.user_managers import UserManager

ANONYMOUS = "anonymous OPC UA client"
_caller: contextvars.ContextVar[str] = contextvars.ContextVar("opcua_caller", default=ANONYMOUS)


def subject(certificate) -> str:
    """The certificate's subject (RFC 4514, e.g. ``O=Inspector,CN=scada``), DER bytes or an x509 object; "" for none."""
    if isinstance(certificate, bytes | bytearray):
        certificate = uacrypto.x509_from_der(bytes(certificate)) if certificate else None
    return certificate.subject.rfc4514_string() if certificate is not None else ""


class CertificateSubjects(UserManager):
    def get_user(self, iserver, username=None, password=None, certificate=None) -> User | None:
        name = subject(certificate)
        name = f"OPC UA {name}" if name else ANONYMOUS
        _caller.set(name)
        return User(role=UserRole.User, name=name)


def caller() -> str:
    """The user of the session whose request is being served."""
    return _caller.get()
