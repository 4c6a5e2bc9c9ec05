"""Synthetic parts: the data the demo and the default model are made from."""

from inspector.synthetic.parts import DEFECT_CLASSES, DefectLabel, PartGenerator, SyntheticPart, parse_source, part_is_defective

__all__ = ["DEFECT_CLASSES", "DefectLabel", "PartGenerator", "SyntheticPart", "parse_source", "part_is_defective"]
