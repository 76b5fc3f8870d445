"""Chaos harness: a throwaway stack, faults, experiments as data, and the runner that proves
the diagnosis checks detect each runbook cause and the runbook's remedy heals it.

Modules: `stack` (the stack, testcontainers), `cleanup` (labels and guaranteed removal),
`toxics` (toxiproxy API), `faults` (what acts), `remedies` (the runbook's remedies, apart from
the faults' rollback), `experiments` (what is expected, as data),
`runner` (steady state -> inject -> detect -> remediate -> recover -> verify -> revert),
`writer` (acknowledged writes and their read-back), `journal`, `results` (MTTD, MTTR, verdict).
"""
