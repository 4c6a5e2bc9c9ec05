"""The ``recorder`` section of the station config: database, image store, free-space alarms and image retention."""

from __future__ import annotations

from dataclasses import dataclass

from inspector.typed import spec


@dataclass(frozen=True)
class DiskSpaceLimits:
    check_interval_s: float = spec(
        1.0, doc="How often the recorder measures the free space of each filesystem holding the database, the images, "
        "station.state_dir and the service logs (a statvfs call: cheap); an alarm clears within this time of the room "
        "being back.", minimum=0.2, maximum=600,
    )
    warning_free_mb: float = spec(
        2048.0, doc="'disk_space_low' (warning) while a filesystem has less free space than this, in MiB, or than "
        "warning_free_percent, whichever is larger (0 = this limit off). On the images' filesystem retention then "
        "removes old images until the alarm clears.", minimum=0,
    )
    warning_free_percent: float = spec(5.0, doc="The warning limit as a share of the filesystem's size, in % (0 = off).", minimum=0, maximum=90)
    critical_free_mb: float = spec(
        512.0, doc="'disk_space_critical' while a filesystem has less free space than this, in MiB, or than "
        "critical_free_percent, whichever is larger (0 = off). On the images' filesystem no image is stored "
        "meanwhile; every part is still recorded.", minimum=0,
    )
    critical_free_percent: float = spec(2.0, doc="The critical limit as a share of the filesystem's size, in % (0 = off).", minimum=0, maximum=90)
    clear_margin: float = spec(
        0.2, doc="Hysteresis: a raised alarm clears once free space is this share above its limit (0.2 = 20 % more, "
        "at most 1 GiB more), so it does not flap around the limit.", minimum=0, maximum=10,
    )


@dataclass(frozen=True)
class ImageRetention:
    keep_passes_days: float = spec(
        7.0, doc="Images of sampled passed parts are removed after this many days (0 = kept until the size limit or "
        "the disk needs the room).", minimum=0,
    )
    keep_rejects_days: float = spec(
        90.0, doc="Images of rejected (and fail-safe) parts are removed after this many days (0 = kept until the size "
        "limit or the disk needs the room).", minimum=0,
    )
    max_gb: float = spec(
        0.0, doc="Largest total size of the stored images, in GiB; beyond it the oldest go, sampled passes first, "
        "then rejects (0 = no size limit).", minimum=0,
    )
    interval_s: float = spec(
        60.0, doc="How often retention looks for images past their age or the size limit (while the images' disk is "
        "low on space it runs between every batch of parts).", minimum=1, maximum=86400,
    )
    batch: int = spec(
        200, doc="Most images removed at a time, between two batches of parts (a part's record is never delayed longer).",
        minimum=1, maximum=10000,
    )


@dataclass(frozen=True)
class RecorderConfig:
    database: str = spec("inspector.db", doc="SQLite database file (one row per part).")
    image_dir: str = spec("images", doc="Folder for stored images.")
    sample_passes: float = spec(0.02, doc="Share of passed parts whose image is stored (rejects are always stored).", minimum=0, maximum=1)
    disk_space: DiskSpaceLimits = spec(
        factory=DiskSpaceLimits, doc="Free-space alarms for the filesystems of the database, images, state and logs."
    )
    retention: ImageRetention = spec(
        factory=ImageRetention,
        doc="Which stored images go first (records always stay): sampled passes, then rejects, oldest first. Images of "
        "parts an operator marked or a quality engineer labelled are kept. A removed image leaves its part's record "
        "with image_note 'image removed by retention'.",
    )
    held_rows: int = spec(
        20000, doc="Part rows and alarms kept in memory while the database cannot be written (disk full), written as "
        "soon as it can be; when that many wait, the recorder stops taking more (the actuator's journal keeps every "
        "decision and refills them).", minimum=100, maximum=1000000,
    )
