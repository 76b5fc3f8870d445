# The project's verbs. Every target bootstraps what it needs (idempotent, cached).
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := .venv/bin/python
PYTEST := $(PY) -m pytest
export PYTHONPATH := $(CURDIR)
REPORTS := reports

.PHONY: help bootstrap images stack-up stack-down stack-status checks demo report test unit \
        test-stack watch chaos load load-distributed load-fault bench figures lint coverage systemd-up \
        systemd-down clean

help:
	@echo "make demo        reference stack up, then pytest checks/ against it, reports under reports/"
	@echo "make test        every test the project has (bootstraps everything it needs)"
	@echo "make stack-up    start the reference Compose stack and wait until healthy"
	@echo "make stack-down  remove the reference stack"
	@echo "make checks      pytest checks/ against the running stack"
	@echo "make watch       stay with the incident: checks on every platform event, the escalation clock"
	@echo "make bench       benchmark scripts: figures printed and written to reports/bench.json"
	@echo "make figures     the README's figures table from reports/bench.json"
	@echo "make load        headless load run against the stack with pass/fail gates, results under reports/"
	@echo "make load-distributed  the same with a Locust master and one worker process per core"
	@echo "make load-fault  load while a database fault comes and goes (private stack): budget, recovery"
	@echo "make lint        ruff"
	@echo "make corpus      set up, record and revert every corpus incident (CORPUS_ARGS=\"--only 'db-*'\")"
	@echo "make bench-triage  the triage's accuracy on the recorded corpus and the rules' mutation score"
	@echo "make coverage    the project's runbook: each item -> checks -> chaos experiments -> MTTD/MTTR"
	@echo "make report      the post-mortem page and Markdown draft from reports/"
	@echo "make systemd-up  a systemd host with the engine as qbitel.service (make k8s-up: a real API server)"

bootstrap:
	@scripts/bootstrap.sh all

images: bootstrap

stack-up: bootstrap
	@scripts/stack.sh up

stack-down:
	@scripts/bootstrap.sh docker
	@scripts/stack.sh down

stack-status:
	@scripts/stack.sh status

# The systemd test host (docker://qbitel-systemd): the runbook's VM with qbitel.service.
systemd-up:
	@scripts/bootstrap.sh all systemd-image
	@scripts/systemd-host.sh up

systemd-down:
	@scripts/bootstrap.sh docker
	@scripts/systemd-host.sh down

# A real Kubernetes API server on loopback (kube-apiserver built from source, cached; etcd),
# for `pytest checks/ --target kubernetes` without a cluster. tests/kubernetes starts its own.
.PHONY: k8s-up k8s-down
k8s-up:
	@scripts/k8s-apiserver.sh up
	@scripts/k8s-apiserver.sh env

k8s-down:
	@scripts/k8s-apiserver.sh down

# The incident run against the running stack (read-only). Exit code = checks' verdict.
# The reference stack's own Prometheus (QBITEL_PROMETHEUS_PORT moves it) is read too.
checks:
	@mkdir -p $(REPORTS)
	$(PYTEST) checks/ --target compose --html=$(REPORTS)/checks.html --self-contained-html \
	    --prometheus-url=http://127.0.0.1:$(or $(QBITEL_PROMETHEUS_PORT),9090) \
	    --junitxml=$(REPORTS)/checks.junit.xml --triage-json=$(REPORTS)/triage.json

# Stay with the incident: the checks on every platform event, the escalation clock, the
# incident timeline (reports/incident-timeline.jsonl); WATCH_ARGS passes options through.
watch:
	@mkdir -p $(REPORTS)
	$(PY) -m servicedown.cli watch --target compose --timeline $(REPORTS)/incident-timeline.jsonl \
	    --triage-json $(REPORTS)/triage.json $(WATCH_ARGS)

# The main job: stack up, checks against it, reports written, then the post-mortem page.
# demo ends successfully once the report is written, even when checks failed (the page says
# which and why, and the failure is printed); `make checks` alone keeps the checks' exit code.
demo: stack-up
	@$(MAKE) --no-print-directory checks || echo "some checks failed: the post-mortem below says which and why"
	@$(MAKE) --no-print-directory coverage >/dev/null
	@$(MAKE) --no-print-directory report

# The post-mortem page and its Markdown draft from whatever results reports/ holds.
report:
	@scripts/bootstrap.sh venv
	$(PY) -m servicedown.report --reports-dir $(REPORTS)

unit: bootstrap
	$(PYTEST) tests/unit tests/engine -q

lint: bootstrap
	.venv/bin/ruff check .

# Runbook coverage of the project's own runbook; without chaos results MTTD/MTTR stay empty.
coverage:
	@scripts/bootstrap.sh venv
	@mkdir -p $(REPORTS)
	$(PY) -m servicedown.runbook coverage runbooks/qbitel-service-down.md \
	    --chaos-json $(REPORTS)/chaos.json --json $(REPORTS)/coverage.json

# Regular load testing (the runbook's Prevention): gates decide the exit code (3 on a breach).
# LOAD_ARGS passes options through, e.g. make load LOAD_ARGS="--users 40 --gate-p95-ms 300".
load: stack-up
	$(PY) -m loadtests.run_load prevention --reports-dir $(REPORTS) $(LOAD_ARGS)

load-distributed: stack-up
	$(PY) -m loadtests.run_load distributed --reports-dir $(REPORTS) $(LOAD_ARGS)

load-fault: bootstrap
	$(PY) -m loadtests.run_load fault --reports-dir $(REPORTS) $(LOAD_ARGS)

test:
	@scripts/run-tests.sh

bench: bootstrap
	@scripts/bench.sh

figures:
	@scripts/bootstrap.sh venv
	$(PY) -m bench.render

# The incident corpus (tests/data/incidents): each scenario set up for real on a throwaway stack
# (and a private systemd host and API server), recorded, reverted. CORPUS_ARGS narrows it.
.PHONY: corpus bench-triage
corpus: bootstrap
	@scripts/bootstrap.sh systemd-image
	$(PY) -m servicedown.corpus $(CORPUS_ARGS)

# Replays the corpus (no Docker): top-1 accuracy, confident-wrong, inconclusive, per profile and
# target kind, and the mutation score (cached; BENCH_TRIAGE_ARGS=--no-mutation skips it).
bench-triage:
	@scripts/bootstrap.sh venv
	$(PY) -m bench.bench_triage $(BENCH_TRIAGE_ARGS)

clean: stack-down
	rm -rf $(REPORTS)/*.html $(REPORTS)/*.json $(REPORTS)/*.xml
