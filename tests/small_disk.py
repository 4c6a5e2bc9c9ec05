"""A small real filesystem for disk-full tests: a tmpfs mounted for the test when this process may mount one.

Where it may not (no CAP_SYS_ADMIN), the tests fall back to another real limit the kernel enforces, RLIMIT_FSIZE on
the recorder's process (a write past the limit fails with EFBIG, as a full disk fails with ENOSPC): see
:func:`limit_file_size`. Neither is a stand-in: SQLite and the image writer get their errors from the kernel.
"""

from __future__ import annotations

import errno
import os
import resource
import subprocess
from pathlib import Path


class SmallDisk:
    def __init__(self, path: Path, size_mb: int) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(path)],
                              capture_output=True, text=True)
        self.mounted = done.returncode == 0
        self.why_not = done.stderr.strip()
        self._ballast: list[Path] = []

    def free_bytes(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def fill(self) -> int:
        """Take every free byte with a ballast file (as another program filling the disk would); bytes taken."""
        ballast = self.path / f"ballast-{len(self._ballast)}"
        self._ballast.append(ballast)
        taken = 0
        chunk = b"\0" * (256 * 1024)
        with ballast.open("wb", buffering=0) as fh:
            while True:
                try:
                    taken += fh.write(chunk if self.free_bytes() >= len(chunk) else chunk[:4096])
                except OSError as err:
                    if err.errno != errno.ENOSPC:
                        raise
                    return taken

    def give_back(self) -> None:
        for ballast in self._ballast:
            ballast.unlink(missing_ok=True)
        self._ballast.clear()

    def close(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True)


def limit_file_size(pid: int, limit: int | None) -> None:
    """RLIMIT_FSIZE of a running process: past ``limit`` bytes a file write fails (None: no limit again)."""
    _, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY if limit is None else limit, hard))
