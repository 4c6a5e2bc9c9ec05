"""The recorder's parts beside its service loop (inspector.services.recorder).

- :mod:`.space`: free space of the filesystems the station writes to, with
  warning and critical alarms;
- :mod:`.stored_images` and :mod:`.retention`: which stored images go when,
  records always staying;
- :mod:`.writer`: rows written to the store, held and retried while the disk
  is full, a database corrupted while running replaced by a fresh one;
- :mod:`.fresh_database`: what a fresh database takes over from the damaged
  one.
"""
