"""Recorded incidents: what every platform answered during one diagnosis run, replayed through
the unchanged targets, checks and triage.

- `python -m servicedown.record NAME [the options of pytest checks/] --label-verdict down
  --label-cause db-down --label-source "..."` records a live run into
  tests/data/incidents/NAME.json (docs/accuracy.md);
- `python -m servicedown.record --repin [NAME|PATH ...]` re-derives the pinned results of
  recordings after a deliberate change of a rule.

recorder.py and replayer.py act at the backend boundary (boundary.py), codec.py writes what
crosses it as JSON, masking.py keeps every secret out of a recording, incident.py is the file.
"""
