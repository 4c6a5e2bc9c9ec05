"""Image retention: images go, records stay.

Which go first, in small batches between the recorder's batches of parts:

1. past their age: sampled passes after ``keep_passes_days``, rejects after
   ``keep_rejects_days``;
2. beyond ``max_gb`` in total: the oldest, sampled passes first, then rejects;
3. while the images' filesystem is low on space (:class:`~.space.DiskWatch`):
   the oldest, passes first, then rejects, batch after batch until the low
   alarm would clear.

Images of parts a person reviewed (an operator's mark, a quality engineer's
label) are never removed. A removed image's part keeps its record; its
``image_path`` is cleared and ``image_note`` says "image removed by
retention", which the HMI and reports show instead of a broken path.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Callable

from inspector.config.schema import ImageRetention as RetentionPolicy
from inspector.recorder.space import DiskWatch
from inspector.records.store import IMAGE_REMOVED, Store
from inspector.records.stored_images import ImageKind, StoredImage, StoredImages, file_size

log = logging.getLogger(__name__)

DAY_S = 86400.0
GIB = 1024**3


class ImageRetention:
    def __init__(self, policy: RetentionPolicy, watch: DiskWatch, store_of: Callable[[], Store | None],
                 counters: Counter[str]) -> None:
        self.policy = policy
        self.watch = watch
        self.store_of = store_of  # the recorder's store of the moment (a fresh one may replace a damaged one)
        self.counters = counters
        self.images: StoredImages
        self._next_due = 0.0
        self._nothing_left_said = False

    def tick(self, now: float, wall: float) -> int:
        """One batch when there is work (``now`` monotonic, ``wall`` the time of day); how many images went."""
        store = self.store_of()
        if store is None:
            return 0
        self.images = StoredImages(store)
        if self.watch.needs_room("images"):
            return self._make_room()
        self._nothing_left_said = False
        if now < self._next_due:
            return 0
        removed, more = self._scheduled(wall)
        self._next_due = now if more else now + self.policy.interval_s
        return removed

    # -- the three rules -------------------------------------------------------------
    def _make_room(self) -> int:
        batch = self._oldest_first(self.policy.batch)
        if not batch:
            if not self._nothing_left_said:
                self._nothing_left_said = True
                log.error("retention: the images' disk is low on space and every image left belongs to a reviewed part "
                          "(kept); free space by hand")
            return 0
        return self._remove(batch, "the images' disk is low on space")

    def _scheduled(self, wall: float) -> tuple[int, bool]:
        batch = self.policy.batch
        if self._measure_unmeasured(batch):
            return 0, True
        for kind, days in (("pass", self.policy.keep_passes_days), ("reject", self.policy.keep_rejects_days)):
            if days > 0:
                old = self.images.oldest(kind, batch, before=wall - days * DAY_S)
                if old:
                    removed = self._remove(old, f"{kind} images older than {days:g} days")
                    return removed, len(old) == batch
        if self.policy.max_gb > 0:
            excess = self.images.total_bytes() - int(self.policy.max_gb * GIB)
            if excess > 0:
                chosen, freed = [], 0
                for image in self._oldest_first(batch):
                    if freed >= excess:
                        break
                    chosen.append(image)
                    freed += image.size or 0
                removed = self._remove(chosen, f"the images take more than {self.policy.max_gb:g} GiB")
                return removed, bool(chosen) and freed < excess
        return 0, False

    def _oldest_first(self, limit: int) -> list[StoredImage]:
        """Sampled passes before rejects, each oldest first."""
        found: list[StoredImage] = []
        kinds: tuple[ImageKind, ...] = ("pass", "reject")
        for kind in kinds:
            if len(found) < limit:
                found += self.images.oldest(kind, limit - len(found))
        return found

    def _measure_unmeasured(self, limit: int) -> bool:
        """Sizes for images stored before they were recorded; a file already gone is marked so. Whether any."""
        unmeasured = self.images.unmeasured(limit)
        sizes, missing = [], []
        for image in unmeasured:
            size = file_size(image.path)
            if size is None:
                missing.append(image)
            else:
                sizes.append((image, size))
        self.images.set_sizes(sizes)
        self.images.mark_missing(missing)
        return bool(unmeasured)

    def _remove(self, images: list[StoredImage], why: str) -> int:
        """Delete the files, then mark their parts (a crash between leaves a path to no file, never a lost file)."""
        gone, freed = [], 0
        for image in images:
            try:
                Path(image.path).unlink(missing_ok=True)
            except OSError as err:
                log.warning("retention: cannot remove %s: %s", image.path, err)
                continue
            gone.append(image)
            freed += image.size or 0
        self.images.mark_removed(gone, IMAGE_REMOVED)
        self.counters["images_removed"] += len(gone)
        self.counters["image_bytes_removed"] += freed
        if gone:
            log.info("retention: removed %d image(s), %.1f MiB (%s)", len(gone), freed / 1024**2, why)
        return len(gone)
