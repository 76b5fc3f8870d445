# Shared shell helpers: progress lines, one clear failure message, the cache folder.
# shellcheck shell=bash

: "${SERVICEDOWN_CACHE:=${XDG_CACHE_HOME:-$HOME/.cache}/servicedown}"
export SERVICEDOWN_CACHE
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT

step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
info() { printf '    %s\n' "$*" >&2; }
die() {
    # One message saying what failed and what to do; never a shell trace.
    printf '\nERROR: %s\n' "$1" >&2
    [ -n "${2:-}" ] && printf 'What to do: %s\n' "$2" >&2
    exit 1
}

# Run a command with a time bound, its output to a log; every 15 s a progress line (elapsed,
# the log's last line), and the log's tail when it fails.
quiet_run() {
    local seconds="$1" logfile="$2"; shift 2
    timeout --kill-after=10 "$seconds" "$@" >"$logfile" 2>&1 &
    local pid=$! start=$SECONDS rc
    while kill -0 "$pid" 2>/dev/null; do
        sleep 1
        if (( (SECONDS - start) % 15 == 0 )) && kill -0 "$pid" 2>/dev/null; then
            printf '    ... %ds: %s\n' $((SECONDS - start)) \
                "$(tail -n 1 "$logfile" 2>/dev/null | tr -d '\r' | cut -c1-100)" >&2
        fi
    done
    wait "$pid"
    rc=$?
    if [ "$rc" -ne 0 ]; then
        tail -n 20 "$logfile" >&2
        return 1
    fi
}

need_root() {
    [ "$(id -u)" = 0 ] || die "this step installs system packages and needs root" \
        "run it as root (sudo make ...), or install docker.io, docker-compose and mmdebstrap yourself"
}

# Content hash of files and folders, used to rebuild images and venvs only when inputs change.
content_hash() {
    (cd "$REPO_ROOT" && find "$@" -type f ! -name '*.pyc' ! -path '*/__pycache__/*' \
        ! -path '*/.wheelhouse/*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) \
        | sha256sum | cut -c1-16
}
