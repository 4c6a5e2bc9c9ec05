"""Tag definitions for pycomm3 from types declared in config.

pycomm3 normally learns tag types by uploading the controller's tag list on
connect. That upload is slow on big programs and the cpppo simulator cannot
answer it, so Inspector can instead tell the driver the types of the few
atomic tags it writes.
"""

from __future__ import annotations

from typing import Any

from pycomm3.cip import DataTypes


def declared_tag(name: str, data_type: str) -> dict[str, Any]:
    """The definition pycomm3 would have built for an atomic controller tag."""
    return {
        "tag_name": name,
        "dim": 0,
        "alias": False,
        "instance_id": 0,
        "dimensions": [0, 0, 0],
        "data_type": data_type,
        "data_type_name": data_type,
        "tag_type": "atomic",
        "type_class": DataTypes.get(data_type),
        "external_access": "Read/Write",
    }
