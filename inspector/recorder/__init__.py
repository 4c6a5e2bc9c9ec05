"""The recorder's parts beside its service loop (inspector.services.recorder).

- :mod:`.space`: free space of the filesystems the station writes to, with
  warning and critical alarms;
- :mod:`.retention`: which stored images go when, records always staying
  (its queries: :mod:`inspector.records.stored_images`);
- :mod:`.writer`: rows written to the store, held and retried while the disk
  is full, a database corrupted while running replaced by a fresh one (what it
  takes over from the damaged one: :mod:`inspector.records.fresh_database`).

The database itself, its tables and every query on them, is
:mod:`inspector.records`'.
"""
