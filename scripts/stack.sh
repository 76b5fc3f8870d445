#!/usr/bin/env bash
# The reference Compose stack: up (waits until the engine is healthy and its monitoring ready),
# down, status.
#   scripts/stack.sh up|down|status
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

COMPOSE_DIR="$REPO_ROOT/compose"
HTTP_PORT="${QBITEL_HTTP_PORT:-8000}"
UP_TIMEOUT="${QBITEL_UP_TIMEOUT:-120}"
export COMPOSE_PROJECT_NAME="${COMPOSE_PROJECT_NAME:-qbitel}"
export QBITEL_PROMETHEUS_PORT="${QBITEL_PROMETHEUS_PORT:-9090}"
export QBITEL_ALERTMANAGER_PORT="${QBITEL_ALERTMANAGER_PORT:-9093}"
# The engine's /metrics port for Prometheus: the real-shape profile serves it on 9090, not 8000.
if [ "${QBITEL_ENGINE_PROFILE:-reference}" = real-shape ]; then
    export QBITEL_ENGINE_METRICS_PORT="${QBITEL_ENGINE_METRICS_PORT:-9090}"
fi
# The Bearer token Alertmanager sends with each webhook; the receiver checks it from the same file.
export SERVICEDOWN_WEBHOOK_TOKEN_FILE="${SERVICEDOWN_WEBHOOK_TOKEN_FILE:-$SERVICEDOWN_CACHE/webhook.token}"
# Rendered per project, so two projects run from one clone keep their own.
MONITORING_DIR="$COMPOSE_DIR/.monitoring/$COMPOSE_PROJECT_NAME"
# Container names start with the project's name (docker-compose.yml).
ENGINE="$COMPOSE_PROJECT_NAME-engine"
compose() { (cd "$COMPOSE_DIR" && timeout --kill-after=10 300 docker-compose "$@"); }

# Secrets are random per machine, kept out of git, and never printed. They live in the cache,
# not the clone: every clone on this machine drives the same pinned project, whose Postgres
# volume was initialised with the first password.
ensure_secrets() {
    local dir="$SERVICEDOWN_CACHE/stack-$COMPOSE_PROJECT_NAME"
    if [ ! -s "$dir/secrets.env" ] || [ ! -s "$dir/postgres.env" ]; then
        # Without the secrets, an existing database volume has a password nobody knows.
        if [ -n "$(docker volume ls -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME")" ]; then
            info "no stack secrets in the cache: removing the old stack and its volumes"
            down
        fi
        mkdir -p "$dir" && chmod 700 "$dir"
        python3 - "$dir/secrets.env" "$dir/postgres.env" <<'PY'
import os, secrets, sys
db = secrets.token_urlsafe(24)
vals = {"DATABASE_PASSWORD": db, "JWT_SECRET": secrets.token_urlsafe(48),
        "ENCRYPTION_KEY": secrets.token_urlsafe(48)}
for path, items in ((sys.argv[1], vals), (sys.argv[2], {"POSTGRES_PASSWORD": db})):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.writelines(f"{k}={v}\n" for k, v in items.items())
PY
        info "generated stack secrets in $dir (mode 600)"
    fi
    install -m 600 "$dir/secrets.env" "$COMPOSE_DIR/.secrets.env"
    install -m 600 "$dir/postgres.env" "$COMPOSE_DIR/.postgres.env"
    # The Postgres exporter reads the same password under its own name.
    rm -f "$COMPOSE_DIR/.exporter.env"
    (umask 077 && sed 's/^POSTGRES_PASSWORD=/DATA_SOURCE_PASS=/' "$dir/postgres.env" >"$COMPOSE_DIR/.exporter.env")
}

# The webhook's token: generated once per machine, kept in the cache like the stack's secrets.
# Never printed.
ensure_webhook_token() {
    local file="$SERVICEDOWN_WEBHOOK_TOKEN_FILE"
    if [ ! -e "$file" ]; then
        mkdir -p "$(dirname "$file")"
        python3 - "$file" <<'PY' || die "could not write the webhook token to $file" "set SERVICEDOWN_WEBHOOK_TOKEN_FILE to a writable path"
import os, secrets, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
with os.fdopen(fd, "w") as fh:
    fh.write(secrets.token_urlsafe(32))
PY
        info "generated the webhook token in $file (mode 600)"
    fi
    [ -f "$file" ] && [ -r "$file" ] && [ -s "$file" ] \
        || die "the webhook token file $file is empty or unreadable" \
            "remove it to have a new one generated, or set SERVICEDOWN_WEBHOOK_TOKEN_FILE to a file holding the token"
}

# Prometheus's and Alertmanager's configuration, from compose/monitoring/ and the settings.
render_monitoring() {
    python3 "$REPO_ROOT/scripts/monitoring_config.py" render "$MONITORING_DIR" \
        || die "rendering the monitoring configuration failed (above)" "fix the setting it names and run again"
    # Root-only beside Alertmanager's configuration, which reads it as credentials_file.
    install -m 600 "$SERVICEDOWN_WEBHOOK_TOKEN_FILE" "$MONITORING_DIR/alertmanager/webhook.token"
    # A changed configuration changes this label, and `up` recreates the container.
    QBITEL_MONITORING_CONFIG_HASH=$(cd "$MONITORING_DIR" && find . -name '*.yml' -print0 | LC_ALL=C sort -z \
        | xargs -0 sha256sum | sha256sum | cut -c1-16)
    export QBITEL_MONITORING_CONFIG_HASH
}

# A host port must be free, or held already by this project's own container for it (compose
# leaves that one as it is): check_port PORT SETTING CONTAINER.
check_port() {
    local port="$1" setting="$2" own="$3" holder
    holder=$(docker ps --filter "publish=$port" --format '{{.Names}}' 2>/dev/null | head -1)
    [ -n "$holder" ] && [ "$holder" = "$own" ] && return
    if [ -n "$holder" ]; then
        die "port $port is published by container '$holder'" \
            "stop it (docker stop $holder) or set $setting to a free port"
    fi
    # Alertmanager shares the host's network and publishes nothing: ask the container itself.
    if docker inspect -f '{{.State.Running}} {{join .Args " "}}' "$own" 2>/dev/null \
        | grep -q "^true .*--web.listen-address=127.0.0.1:$port\b"; then
        return
    fi
    if python3 -c "import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(s.connect_ex(('127.0.0.1', $port)) != 0)"; then
        die "port $port on 127.0.0.1 is already taken by another process" \
            "find it with 'ss -ltnp | grep :$port' and stop it, or set $setting to a free port"
    fi
}

check_ports() {
    check_port "$HTTP_PORT" QBITEL_HTTP_PORT "$ENGINE"
    check_port "$QBITEL_PROMETHEUS_PORT" QBITEL_PROMETHEUS_PORT "$COMPOSE_PROJECT_NAME-prometheus"
    check_port "$QBITEL_ALERTMANAGER_PORT" QBITEL_ALERTMANAGER_PORT "$COMPOSE_PROJECT_NAME-alertmanager"
}

up() {
    local problem
    # Bad settings end here, before anything is touched.
    problem=$(python3 "$REPO_ROOT/scripts/monitoring_config.py" check 2>&1) \
        || die "$problem" "fix that setting (docs/monitoring.md lists them) and run again"
    ensure_webhook_token
    ensure_secrets
    check_ports
    render_monitoring
    step "starting the reference stack (project $COMPOSE_PROJECT_NAME)"
    local log="$SERVICEDOWN_CACHE/logs/compose-up.log"
    mkdir -p "$(dirname "$log")"
    if ! compose up -d --remove-orphans >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        compose down -v --remove-orphans >/dev/null 2>&1
        die "docker-compose up failed (log above); the stack was taken down again" \
            "read the log; 'make stack-down' then 'make stack-up' retries from scratch"
    fi
    local start=$SECONDS state
    while :; do
        state=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$ENGINE" 2>/dev/null)
        if [ "$state" = healthy ]; then
            info "qbitel-engine healthy after $((SECONDS - start)) s on http://localhost:$HTTP_PORT"
            break
        fi
        if [ $((SECONDS - start)) -ge "$UP_TIMEOUT" ]; then
            compose ps >&2
            compose logs --tail=30 qbitel-engine >&2
            die "qbitel-engine not healthy after ${UP_TIMEOUT} s (state: ${state:-missing})" \
                "read the logs above; 'pytest checks/' tells why"
        fi
        printf '    waiting for qbitel-engine: %s (%d s)\r' "${state:-starting}" $((SECONDS - start)) >&2
        sleep 1
    done
    local left=$((UP_TIMEOUT - (SECONDS - start)))
    [ "$left" -ge 30 ] || left=30
    if ! problem=$(python3 "$REPO_ROOT/scripts/monitoring_ready.py" wait "$left"); then
        compose ps >&2
        compose logs --tail=20 prometheus alertmanager postgres-exporter >&2
        die "monitoring not ready after $((SECONDS - start)) s: $problem" \
            "read the logs above; 'scripts/stack.sh status' shows each part"
    fi
    info "monitoring ready after $((SECONDS - start)) s: Prometheus on http://127.0.0.1:$QBITEL_PROMETHEUS_PORT" \
        "(every target up), Alertmanager on http://127.0.0.1:$QBITEL_ALERTMANAGER_PORT"
}

down() {
    step "removing the reference stack (containers, network, volumes)"
    if [ -f "$COMPOSE_DIR/.secrets.env" ] && [ -f "$COMPOSE_DIR/.exporter.env" ]; then
        compose down -v --remove-orphans >/dev/null 2>&1 || true
    else
        # Without the env files compose refuses to parse; remove by label instead.
        docker ps -aq --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" | xargs -r docker rm -f >/dev/null
        docker volume ls -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" | xargs -r docker volume rm >/dev/null
        docker network ls -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" | xargs -r docker network rm >/dev/null
    fi
    rm -rf "$MONITORING_DIR"
    info "done"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) compose ps; python3 "$REPO_ROOT/scripts/monitoring_ready.py" status ;;
    *) die "usage: scripts/stack.sh up|down|status" ;;
esac
