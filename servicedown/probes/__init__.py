"""What the checks ask of the service's host, and how the answers read.

Each module pairs one probe with its parser: `hostfacts` (a POSIX script run in the service's
cgroup: CPU, memory, disks, open files), `pgwire` (a PostgreSQL startup exchange, the
pg_isready of a host without pg_isready), `tlscheck` (certificate and key files), `kernlog`
(the kernel's OOM-kill lines), `logscan` (the runbook's log patterns), `promql` (Prometheus's
answers over the event window). They hold no platform code: targets run the probes, checks
judge what the parsers return.
"""
