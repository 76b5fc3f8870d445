#!/usr/bin/env bash
# The reference Compose stack: up (waits until the engine is healthy), down, status.
#   scripts/stack.sh up|down|status
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

COMPOSE_DIR="$REPO_ROOT/compose"
HTTP_PORT="${QBITEL_HTTP_PORT:-8000}"
UP_TIMEOUT="${QBITEL_UP_TIMEOUT:-120}"
export COMPOSE_PROJECT_NAME="${COMPOSE_PROJECT_NAME:-qbitel}"
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
}

# Port 8000 may be held by something else (or by a stack of another project).
check_port() {
    local holder
    # Our own engine already publishing this port is fine: compose leaves it as it is.
    if docker port qbitel-engine 8000/tcp 2>/dev/null | grep -q ":$HTTP_PORT\$"; then return; fi
    holder=$(docker ps --filter "publish=$HTTP_PORT" --format '{{.Names}}' 2>/dev/null | head -1)
    if [ -n "$holder" ]; then
        die "port $HTTP_PORT is published by container '$holder'" \
            "stop it (docker stop $holder) or set QBITEL_HTTP_PORT to a free port"
    fi
    if python3 -c "import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(s.connect_ex(('127.0.0.1', $HTTP_PORT)) != 0)"; then
        die "port $HTTP_PORT on 127.0.0.1 is already taken by another process" \
            "find it with 'ss -ltnp | grep :$HTTP_PORT' and stop it, or set QBITEL_HTTP_PORT to a free port"
    fi
}

up() {
    ensure_secrets
    check_port
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
        state=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' qbitel-engine 2>/dev/null)
        if [ "$state" = healthy ]; then
            info "qbitel-engine healthy after $((SECONDS - start)) s on http://localhost:$HTTP_PORT"
            return 0
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
}

down() {
    step "removing the reference stack (containers, network, volumes)"
    if [ -f "$COMPOSE_DIR/.secrets.env" ]; then
        compose down -v --remove-orphans >/dev/null 2>&1 || true
    else
        # Without the env files compose refuses to parse; remove by label instead.
        docker ps -aq --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" | xargs -r docker rm -f >/dev/null
        docker volume ls -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" | xargs -r docker volume rm >/dev/null
        docker network ls -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" | xargs -r docker network rm >/dev/null
    fi
    info "done"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) compose ps ;;
    *) die "usage: scripts/stack.sh up|down|status" ;;
esac
