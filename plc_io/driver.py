"""pycomm3's ``LogixDriver`` with its single-tag write request built once.

pycomm3 1.2 builds the request of a one-tag write to see its size, marks it
unbuilt, and builds it again when it is sent: the second build appends the
sequence count and the Write Tag service to the first, so one request carries
the service twice. cpppo's Logix simulator refuses that request and closes the
session ("Failed to parse reply" on the client); a controller may or may not
ignore the trailing copy. Writes of several tags go through the Multiple
Service Packet, which pycomm3 builds correctly, and are not affected.

:class:`LogixDriver` starts the one-tag request's message afresh after that
size check, so it is built once, as a controller expects it: the same
Write Tag service that goes inside a multi-service request.
"""

from __future__ import annotations

from typing import Any

from pycomm3 import LogixDriver as _Pycomm3LogixDriver
from pycomm3.packets import WriteTagFragmentedRequestPacket, WriteTagRequestPacket


class LogixDriver(_Pycomm3LogixDriver):
    def _write_build_single_request(self, parsed_tag: dict[str, Any]) -> Any:
        request = super()._write_build_single_request(parsed_tag)
        if isinstance(request, WriteTagRequestPacket) and not isinstance(request, WriteTagFragmentedRequestPacket):
            request._msg = []  # built once more when sent, from nothing this time
        return request
