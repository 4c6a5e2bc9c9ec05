"""Installing the station as an appliance: systemd units, its own user, owner-only folders (docs/install.md)."""

from inspector.install.installer import InstallOptions, install

__all__ = ["InstallOptions", "install"]
