"""Inspector: a machine-vision quality-inspection appliance."""

__version__ = "0.1.0"
