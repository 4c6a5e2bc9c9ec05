"""The line's records: the one owner of the station database's tables, and of the shadow runs' comparisons.

Every table of the station database (``recorder.database``), what it holds
and who writes it, is listed in :mod:`.schema`, which also creates the
tables and brings an older file up to date. Every query on them is here;
no other package writes SQL on them or opens the file itself (a test greps
the tree for it: ``tests/unit/test_records_ownership.py``).

- :mod:`.schema`: the tables, their creation and migrations;
- :mod:`.store`: the recorder's writer (part rows once, alarms, images);
  :mod:`.stored_images`: retention's queries on the images;
  :mod:`.fresh_database`: what a fresh database takes over from a damaged one;
- :mod:`.station`: the database as people's tools open it (the HMI, the
  retraining's export), with :mod:`.parts`, :mod:`.marks`, :mod:`.alarms`,
  :mod:`.accounts` queries;
- :mod:`.parts`, :mod:`.alarms`, :mod:`.marks`: typed reads for the others
  (the OPC UA server, the line's summary, triage, the golden set, the bench);
  :mod:`.period`: a report's period; :mod:`.escapes`: the reports' escapes;
  :mod:`.tail`: the publisher's reading in row order;
- :mod:`.shadow`: a shadow run's comparisons (its own file per run);
- :mod:`.readonly`: the one way to open any of the station's databases
  read-only (the other owners below use it too);
- :mod:`.trigger_journal`: each camera's trigger journal (its own small file
  per camera, written by the camera service before each part-seen event, read
  by the actuator to decide parts whose event was lost).

Three files have a table called ``parts``: the station database's (the
recorder's, here), a shadow run's (:mod:`.shadow`, its compared parts) and the
actuator's journal (not ours, see below). Each is named by its owner's module.

Not ours, each with its own owner (and its own file):

- the actuator's decision journal: :mod:`inspector.actuator.journal` (its
  schema, its writes and every read of it: its format is the actuator's
  durability contract, so its reader stays with its writer; the recorder's
  reconcile and the bench read it through that module's functions);
- the audit trail: :mod:`inspector.audit` (keyed, anchored outside its file);
- the station's alarm board: :mod:`inspector.alarms.board_store` (the alarm
  state of the moment; the ``alarms`` table here is its history);
- the MQTT outbox: :mod:`inspector.plant.outbox`;
- the drift series: :mod:`inspector.modelops.drift_series`;
- the model registry: :mod:`inspector.modelops.registry` (files, and the
  audit trail).
"""
