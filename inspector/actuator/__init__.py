"""Part tracking and decisions: every triggered part gets exactly one."""
