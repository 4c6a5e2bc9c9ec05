"""The actuator's PLC side: pycomm3 Logix driver, tag map, result handshake."""

from plc_io.logix import RESULT_CODES, LogixConnection

__all__ = ["RESULT_CODES", "LogixConnection"]
