"""`servicedown watch`: stay with the incident from the alert to the recovery (loop.py)."""
