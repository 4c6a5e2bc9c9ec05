"""Dataset tooling: import common layouts into Inspector's one dataset format.

Named ``datasets_tool`` so it never shadows the well-known ``datasets`` library.
See :mod:`inspector.datasets_tool.manifest` for the format.
"""

from inspector.datasets_tool.importer import ImportOptions, ImportResult, hash_uniform, import_dataset
from inspector.datasets_tool.manifest import Dataset, DatasetError, DatasetImage, LabelBox, load_dataset

__all__ = [
    "Dataset",
    "DatasetError",
    "DatasetImage",
    "ImportOptions",
    "ImportResult",
    "LabelBox",
    "hash_uniform",
    "import_dataset",
    "load_dataset",
]
