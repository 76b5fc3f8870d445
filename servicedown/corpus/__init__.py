"""The incident corpus: scenarios set up for real on throwaway stacks, recorded, and reverted
(`make corpus`, or `python -m servicedown.corpus`), and how a replayed triage is scored
against each recording's label (scoring.py, read by `make bench-triage` and the unit tests).
"""
