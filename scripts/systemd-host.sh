#!/usr/bin/env bash
# The systemd test host: a container with systemd as PID 1 running Postgres and the engine
# as qbitel.service, standing in for the runbook's VM.
#   scripts/systemd-host.sh up|down|status
# testinfra reaches it as docker://qbitel-systemd; the engine answers on
# http://127.0.0.1:${QBITEL_SYSTEMD_HTTP_PORT:-18000}. QBITEL_SYSTEMD_NAME names another
# container, so a second host can run beside one that is in use.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

NAME="${QBITEL_SYSTEMD_NAME:-qbitel-systemd}"
ROLE_LABEL=servicedown.role=systemd-host
IMAGE="${QBITEL_SYSTEMD_IMAGE:-qbitel-systemd:local}"
HTTP_PORT="${QBITEL_SYSTEMD_HTTP_PORT:-18000}"
UP_TIMEOUT="${QBITEL_SYSTEMD_UP_TIMEOUT:-120}"

dk() { timeout --kill-after=5 60 docker "$@"; }
in_host() { timeout --kill-after=5 15 docker exec "$NAME" "$@"; }
exists() { dk container inspect "$NAME" >/dev/null 2>&1; }
running() { [ "$(dk inspect -f '{{.State.Running}}' "$NAME" 2>/dev/null)" = true ]; }
http_code() {
    curl -s -m 3 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/health" 2>/dev/null
}

need_docker() {
    timeout 10 docker info >/dev/null 2>&1 \
        || die "no Docker engine answers" "run 'scripts/bootstrap.sh docker' (or start dockerd), then run again"
    dk image inspect "$IMAGE" >/dev/null 2>&1 \
        || die "image $IMAGE is missing" "run 'scripts/bootstrap.sh all systemd-image' (make systemd-up does)"
}

remove() { dk rm -f -v "$NAME" >/dev/null 2>&1 || true; }

# The env file is made here, in memory, and streamed into the stopped container as a tar
# archive (mode 600, owner root): it never touches the host's disk, the image, or a log.
write_secrets() {
    python3 - <<'PY' | dk cp - "$NAME:/etc/qbitel/"
import io, secrets, sys, tarfile, time
body = "".join(f"{k}={v}\n" for k, v in (
    ("DATABASE_PASSWORD", secrets.token_urlsafe(24)),
    ("JWT_SECRET", secrets.token_urlsafe(48)),
    ("ENCRYPTION_KEY", secrets.token_urlsafe(48)),
)).encode()
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as tar:
    info = tarfile.TarInfo("qbitel.env")
    info.size, info.mode, info.mtime = len(body), 0o600, int(time.time())
    tar.addfile(info, io.BytesIO(body))
sys.stdout.buffer.write(buf.getvalue())
PY
}

# One line of where the boot is: systemd's state, the unit's state, /health's code.
probe() {
    sys_state=$(in_host systemctl is-system-running 2>/dev/null)
    unit_state=$(in_host systemctl is-active qbitel 2>/dev/null)
    code=$(http_code)
}

healthy() {
    probe
    case "$sys_state" in running|degraded) ;; *) return 1 ;; esac
    [ "$unit_state" = active ] && [ "$code" = 200 ]
}

fail_up() {
    printf '\n' >&2
    in_host systemctl --no-pager --failed >&2 2>/dev/null
    in_host journalctl -u qbitel -n 25 --no-pager -o short-iso >&2 2>/dev/null
    remove
    die "$1; the container was removed again" "$2"
}

up() {
    need_docker
    if exists; then
        local want have
        want=$(dk image inspect -f '{{.Id}}' "$IMAGE")
        have=$(dk inspect -f '{{.Image}}' "$NAME")
        if [ "$want" = "$have" ] && running && healthy; then
            info "$NAME already up (system $sys_state, qbitel $unit_state, /health $code)"
            return 0
        fi
        info "replacing the existing $NAME (stale image or not healthy)"
        remove
    fi
    local holder
    holder=$(dk ps --filter "publish=$HTTP_PORT" --format '{{.Names}}' | head -1)
    [ -z "$holder" ] || die "port $HTTP_PORT is published by container '$holder'" \
        "stop it, or set QBITEL_SYSTEMD_HTTP_PORT to a free port"
    if (exec 3<>"/dev/tcp/127.0.0.1/$HTTP_PORT") 2>/dev/null; then
        die "port $HTTP_PORT on 127.0.0.1 is taken by another process" \
            "find it with 'ss -ltnp | grep :$HTTP_PORT', or set QBITEL_SYSTEMD_HTTP_PORT to a free port"
    fi

    step "starting the systemd test host $NAME ($IMAGE)"
    trap 'remove; die "interrupted; the container was removed" "run it again"' INT TERM
    # systemd as PID 1 without --privileged (see docs): SYS_ADMIN to mount its cgroups,
    # the host's cgroup tree, tmpfs /run. SYSLOG lets root read the kernel log (dmesg), as
    # root on a VM can: on cgroup v1 the kernel's OOM line is the only sign naming the unit.
    dk create --name "$NAME" --hostname qbitel-vm --label "$ROLE_LABEL" \
        --cap-add SYS_ADMIN --cap-add SYSLOG --security-opt seccomp=unconfined \
        -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock -e container=docker \
        -p "127.0.0.1:$HTTP_PORT:8000" "$IMAGE" >/dev/null \
        || { remove; die "docker create failed (message above)" "read it; 'docker ps -a' shows leftovers"; }
    write_secrets || { remove; die "writing /etc/qbitel/qbitel.env into $NAME failed" "run it again"; }
    dk start "$NAME" >/dev/null || fail_up "docker start failed" "read the message above"

    local start=$SECONDS
    while ! healthy; do
        running || fail_up "$NAME stopped while booting" "'docker logs $NAME' shows why"
        if [ $((SECONDS - start)) -ge "$UP_TIMEOUT" ]; then
            fail_up "not healthy after ${UP_TIMEOUT} s (system ${sys_state:-?}, qbitel ${unit_state:-?}, /health ${code:-none})" \
                "read the unit's log above; 'journalctl -u qbitel' inside tells why"
        fi
        printf '    booting: system %s, qbitel %s, /health %s (%d s)   \r' \
            "${sys_state:-starting}" "${unit_state:-?}" "${code:-none}" $((SECONDS - start)) >&2
        sleep 1
    done
    trap - INT TERM
    printf '\n' >&2
    info "$NAME up after $((SECONDS - start)) s: system $sys_state, qbitel active, /health 200 on http://127.0.0.1:$HTTP_PORT"
    info "testinfra host spec: docker://$NAME"
}

down() {
    timeout 10 docker info >/dev/null 2>&1 || { info "no Docker engine answers; nothing to remove"; return 0; }
    if exists; then
        step "removing the systemd test host $NAME"
        remove
        if exists; then die "could not remove $NAME" "remove it with 'docker rm -f $NAME'"; fi
    else
        info "$NAME is not there; nothing to remove"
    fi
}

status() {
    timeout 10 docker info >/dev/null 2>&1 || die "no Docker engine answers" "run 'scripts/bootstrap.sh docker'"
    exists || { info "$NAME: not created (scripts/systemd-host.sh up)"; return 1; }
    running || { info "$NAME: container $(dk inspect -f '{{.State.Status}}' "$NAME")"; return 1; }
    probe
    info "$NAME: system ${sys_state:-?}, qbitel ${unit_state:-?}, /health ${code:-none} (http://127.0.0.1:$HTTP_PORT)"
    [ "$unit_state" = active ] && [ "$code" = 200 ]
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    *) die "usage: scripts/systemd-host.sh up|down|status" "pick one of up, down, status" ;;
esac
