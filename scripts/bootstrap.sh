#!/usr/bin/env bash
# Brings a fresh Debian machine to the point where the reference stack can run offline:
# system packages, a Docker engine, the Python environment, toxiproxy built from source,
# and every image built locally. Idempotent; everything is cached under $SERVICEDOWN_CACHE.
#
#   scripts/bootstrap.sh [all|packages|docker|venv|toxiproxy|images]...
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TOXIPROXY_VERSION="${TOXIPROXY_VERSION:-v2.12.0}"
BASE_IMAGE="${QBITEL_BASE_IMAGE:-qbitel-base:bookworm}"
ENGINE_IMAGE="${QBITEL_ENGINE_IMAGE:-qbitel-engine:local}"
POSTGRES_IMAGE="${QBITEL_POSTGRES_IMAGE:-qbitel-postgres:local}"
TOXIPROXY_IMAGE="${QBITEL_TOXIPROXY_IMAGE:-qbitel-toxiproxy:2.12.0}"
SYSTEMD_IMAGE="${QBITEL_SYSTEMD_IMAGE:-qbitel-systemd:local}"
PROMETHEUS_IMAGE="${QBITEL_PROMETHEUS_IMAGE:-qbitel-prometheus:local}"
ALERTMANAGER_IMAGE="${QBITEL_ALERTMANAGER_IMAGE:-qbitel-alertmanager:local}"
POSTGRES_EXPORTER_IMAGE="${QBITEL_POSTGRES_EXPORTER_IMAGE:-qbitel-postgres-exporter:local}"
# One rootfs serves every image: the engine, Postgres and the systemd host.
BASE_PACKAGES="python3,python3-venv,postgresql,postgresql-client,ca-certificates,procps,curl,openssl,iproute2,systemd,systemd-sysv,dbus"
DOCKERD_LOG="$SERVICEDOWN_CACHE/dockerd.log"
mkdir -p "$SERVICEDOWN_CACHE/logs"

ensure_packages() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v docker-compose >/dev/null || missing+=(docker-compose)
    command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
    command -v tmux >/dev/null || missing+=(tmux)  # watch's live screen is tested in a real terminal
    # PostgreSQL server binaries for the engine's local tests (no cluster is started here).
    [ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql)
    if [ ${#missing[@]} -eq 0 ]; then info "system packages present"; return; fi
    need_root
    step "installing ${missing[*]} (Debian packages)"
    quiet_run 300 "$SERVICEDOWN_CACHE/logs/apt-update.log" apt-get update -q \
        || die "apt-get update failed (log above)" "check that Debian's package mirror is reachable, then run again"
    DEBIAN_FRONTEND=noninteractive quiet_run 600 "$SERVICEDOWN_CACHE/logs/apt-install.log" \
        apt-get install -y -q --no-install-recommends "${missing[@]}" \
        || die "installing ${missing[*]} failed (log above)" "install them with apt-get and run again"
}

docker_answers() { timeout 10 docker info >/dev/null 2>&1; }

ensure_docker() {
    command -v docker >/dev/null || die "no docker client on PATH" "install docker.io (scripts/bootstrap.sh packages)"
    if docker_answers; then info "Docker engine answers"; return; fi
    if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST}" != unix:///var/run/docker.sock ]; then
        # A remote or custom engine was asked for: starting a local one would not be it.
        die "the Docker engine at DOCKER_HOST=$DOCKER_HOST does not answer" \
            "start that engine, or unset DOCKER_HOST to use (and start) the local one"
    fi
    step "starting the Docker engine"
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
        systemctl start docker >/dev/null 2>&1 || true
    fi
    if ! docker_answers; then
        command -v dockerd >/dev/null || die "no Docker engine answers and dockerd is not installed" \
            "run 'scripts/bootstrap.sh packages' as root, or point DOCKER_HOST at a running engine"
        # A stale pid file from a killed daemon stops a new one from starting.
        if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
            rm -f /var/run/docker.pid
        fi
        nohup dockerd >"$DOCKERD_LOG" 2>&1 &
    fi
    local i
    for i in $(seq 1 60); do
        docker_answers && { info "Docker engine ready after ${i}s"; return; }
        sleep 1
    done
    tail -n 15 "$DOCKERD_LOG" >&2 2>/dev/null
    die "the Docker engine did not answer within 60 s (log: $DOCKERD_LOG)" \
        "read the log above; on a host without systemd run 'dockerd' as root yourself, or set DOCKER_HOST"
}

# The dependencies named in pyproject.toml, one a line (what the venv is keyed on).
venv_requirements() {
    python3 - "$REPO_ROOT/pyproject.toml" <<'PY'
import sys, tomllib
data = tomllib.load(open(sys.argv[1], "rb"))["project"]
print("\n".join(data["dependencies"] + data.get("optional-dependencies", {}).get("dev", [])))
PY
    # The engine's own pins too: its tests run it as a local process.
    grep -v '^#' "$REPO_ROOT/compose/engine/requirements.txt"
}

venv_dir() {
    local h
    h=$( (venv_requirements; python3 --version) | sha256sum | cut -c1-12)
    echo "$SERVICEDOWN_CACHE/venv-$h"
}

ensure_venv() {
    command -v python3 >/dev/null || die "python3 is missing" "install Python 3.11 or newer"
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "Python 3.11 or newer is needed (found $(python3 --version))" "install a newer python3"
    local venv; venv="$(venv_dir)"
    if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
        step "creating the Python environment in $venv"
        rm -rf "$venv"
        python3 -m venv "$venv" || die "python3 -m venv failed" "install python3-venv"
        venv_requirements >"$venv/requirements.txt"
        quiet_run 900 "$SERVICEDOWN_CACHE/logs/pip.log" "$venv/bin/pip" install -q -r "$venv/requirements.txt" \
            || { rm -rf "$venv"; die "pip install failed (log above)" "check that PyPI is reachable, then run again"; }
        touch "$venv/.complete"
    else
        info "Python environment cached ($venv)"
    fi
    ln -sfn "$venv" "$REPO_ROOT/.venv"
    # The clone's own package metadata (servicedown.egg-info, git-ignored): with the clone on the
    # path, pytest finds the project's plugins as entry points, so `pytest --runbook PATH` works
    # for a runbook in any folder. The shared environment itself is left as it is.
    (cd "$REPO_ROOT" && timeout 60 "$venv/bin/python" setup.py -q egg_info >/dev/null 2>&1) \
        || info "could not write servicedown.egg-info: pytest --runbook needs --runbook=PATH here"
}

ensure_toxiproxy() {
    local dir="$SERVICEDOWN_CACHE/toxiproxy-$TOXIPROXY_VERSION"
    if [ ! -x "$dir/server" ] || [ ! -x "$dir/cli" ]; then
        command -v go >/dev/null || die "Go is needed to build toxiproxy $TOXIPROXY_VERSION from source" \
            "install Go 1.23+ (or set QBITEL_TOXIPROXY_IMAGE to a toxiproxy image you can pull)"
        step "building toxiproxy $TOXIPROXY_VERSION from source (Go module proxy)"
        mkdir -p "$dir.tmp"
        CGO_ENABLED=0 GOBIN="$dir.tmp" GOFLAGS=-mod=mod quiet_run 900 "$SERVICEDOWN_CACHE/logs/toxiproxy-build.log" \
            go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION" \
            "github.com/Shopify/toxiproxy/v2/cmd/cli@$TOXIPROXY_VERSION" \
            || { rm -rf "$dir.tmp"; die "building toxiproxy failed (log above)" \
                "check that the Go module proxy is reachable (go env GOPROXY), or set QBITEL_TOXIPROXY_IMAGE"; }
        rm -rf "$dir" && mv "$dir.tmp" "$dir"
    else
        info "toxiproxy $TOXIPROXY_VERSION cached"
    fi
    mkdir -p "$REPO_ROOT/compose/toxiproxy/bin"
    cp -f "$dir/server" "$REPO_ROOT/compose/toxiproxy/bin/toxiproxy"
    cp -f "$dir/cli" "$REPO_ROOT/compose/toxiproxy/bin/toxiproxy-cli"
}

image_label() { docker image inspect -f "{{ index .Config.Labels \"servicedown.hash\" }}" "$1" 2>/dev/null; }

ensure_base_image() {
    local h; h=$(printf '%s' "$BASE_PACKAGES" | sha256sum | cut -c1-16)
    if [ "$(image_label "$BASE_IMAGE")" = "$h" ]; then info "$BASE_IMAGE cached"; return; fi
    local tar="$SERVICEDOWN_CACHE/rootfs-bookworm-$h.tar"
    if [ ! -s "$tar" ]; then
        command -v mmdebstrap >/dev/null || die "mmdebstrap is missing" "run 'scripts/bootstrap.sh packages' as root"
        step "building the Debian bookworm rootfs with mmdebstrap (about 1-2 min)"
        # --format: mmdebstrap picks the format from the name, and a ".tmp" name is a folder.
        quiet_run 900 "$SERVICEDOWN_CACHE/logs/mmdebstrap.log" \
            mmdebstrap --variant=minbase --format=tar --include="$BASE_PACKAGES" bookworm "$tar.tmp" \
            || { rm -rf "$tar.tmp"; die "mmdebstrap failed (log above)" "check that Debian's package mirror is reachable"; }
        mv "$tar.tmp" "$tar"
    fi
    step "importing $BASE_IMAGE"
    docker import --change "LABEL servicedown.hash=$h" --change 'CMD ["/bin/bash"]' "$tar" "$BASE_IMAGE" >/dev/null \
        || die "docker import of the rootfs failed" "see 'docker info'; remove $tar to rebuild it"
}

# build_image TAG CONTEXT [PARENT_IMAGE]: rebuild only when the context or the parent changed.
build_image() {
    local tag="$1" ctx="$2" parent="${3:-$BASE_IMAGE}"
    [[ $ctx = /* ]] || ctx="$REPO_ROOT/$ctx"
    local h parent_id
    parent_id=$(docker image inspect -f '{{.Id}}' "$parent" 2>/dev/null)
    h=$( (content_hash "$ctx"; echo "$parent_id") | sha256sum | cut -c1-16)
    if [ "$(image_label "$tag")" = "$h" ]; then info "$tag cached"; return; fi
    step "building image $tag"
    local log="$SERVICEDOWN_CACHE/logs/build-${tag//[:\/]/_}.log"
    DOCKER_BUILDKIT=0 quiet_run 900 "$log" docker build --label "servicedown.hash=$h" \
        --build-arg "BASE=$BASE_IMAGE" --build-arg "ENGINE=$ENGINE_IMAGE" -t "$tag" "$ctx" \
        || die "building image $tag failed (log above, full log: $log)" "fix the Dockerfile in $ctx and run again"
}

wheelhouse() {
    local req="$REPO_ROOT/compose/engine/requirements.txt" h dir
    h=$(sha256sum "$req" | cut -c1-16)
    dir="$SERVICEDOWN_CACHE/wheelhouse-$h"
    if [ ! -f "$dir/.complete" ]; then
        step "downloading the engine's wheels (host side; containers have no network)"
        mkdir -p "$dir"
        quiet_run 600 "$SERVICEDOWN_CACHE/logs/wheelhouse.log" python3 -m pip download -q \
            --only-binary=:all: --python-version 3.11 --platform manylinux2014_x86_64 \
            --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 --implementation cp \
            -d "$dir" -r "$req" \
            || die "downloading the engine's wheels failed (log above)" "check that PyPI is reachable"
        touch "$dir/.complete"
    fi
    rm -rf "$REPO_ROOT/compose/engine/.wheelhouse"
    cp -al "$dir" "$REPO_ROOT/compose/engine/.wheelhouse" 2>/dev/null || cp -a "$dir" "$REPO_ROOT/compose/engine/.wheelhouse"
}

# apt_resolve STATUS PACKAGE...: "name=version" of each package apt would install on a system whose
# dpkg status is STATUS (the base image's), recommends left out.
apt_resolve() {
    local status="$1"; shift
    timeout 120 apt-get -s -q -o Dir::State::status="$status" install --no-install-recommends "$@" \
        2>"$status.err" | awk '/^Inst /{ print $2 "=" substr($3, 2) }'
}

# debs_for CONTEXT PACKAGE...: Debian packages, with the dependencies the base image lacks, into
# CONTEXT/.debs for a Dockerfile to install offline. Resolved by this host's apt against the base
# image's own dpkg status and fetched on the host (containers reach no mirror); cached per set.
debs_for() {
    local ctx="$1"; shift
    [[ $ctx = /* ]] || ctx="$REPO_ROOT/$ctx"
    local codename key dir wanted
    key=$( (echo "$*"; image_label "$BASE_IMAGE") | sha256sum | cut -c1-16)
    dir="$SERVICEDOWN_CACHE/debs-$key"
    if [ ! -f "$dir/.complete" ]; then
        codename=$(. /etc/os-release 2>/dev/null; echo "${VERSION_CODENAME:-unknown}")
        [ "$codename" = bookworm ] && command -v apt-get >/dev/null \
            || die "the monitoring images install Debian bookworm's packages, fetched with this host's apt, but this host is '$codename'" \
                "run on Debian 12, or set QBITEL_PROMETHEUS_IMAGE, QBITEL_ALERTMANAGER_IMAGE and QBITEL_POSTGRES_EXPORTER_IMAGE to images you have"
        step "fetching Debian packages: $*"
        rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
        timeout 60 docker run --rm --network none "$BASE_IMAGE" cat /var/lib/dpkg/status >"$dir.tmp/base.status" \
            || die "could not read the package list of $BASE_IMAGE" "rebuild it: docker rmi $BASE_IMAGE, then run again"
        wanted=$(apt_resolve "$dir.tmp/base.status" "$@")
        if [ -z "$wanted" ] && [ "$(id -u)" = 0 ]; then
            # Stale or missing package lists: refresh them once.
            quiet_run 300 "$SERVICEDOWN_CACHE/logs/apt-update.log" apt-get update -q || true
            wanted=$(apt_resolve "$dir.tmp/base.status" "$@")
        fi
        if [ -z "$wanted" ]; then
            tail -n 5 "$dir.tmp/base.status.err" >&2
            rm -rf "$dir.tmp"
            die "apt could not resolve $* against $BASE_IMAGE (above)" "run 'apt-get update' as root and try again"
        fi
        # shellcheck disable=SC2086 # one word per package
        (cd "$dir.tmp" && quiet_run 600 "$SERVICEDOWN_CACHE/logs/apt-download.log" \
            apt-get download -q -o APT::Sandbox::User=root $wanted) \
            || { rm -rf "$dir.tmp"; die "downloading $* failed (log above)" "check that Debian's package mirror is reachable"; }
        rm -f "$dir.tmp/base.status" "$dir.tmp/base.status.err"
        rm -rf "$dir" && mv "$dir.tmp" "$dir" && touch "$dir/.complete"
    fi
    rm -rf "$ctx/.debs" && mkdir -p "$ctx/.debs"
    cp -al "$dir"/*.deb "$ctx/.debs/" 2>/dev/null || cp -a "$dir"/*.deb "$ctx/.debs/"
}

# Prometheus, Alertmanager and the Postgres exporter, each from Debian's own package.
ensure_monitoring_images() {
    if [ "$PROMETHEUS_IMAGE" = qbitel-prometheus:local ]; then
        debs_for compose/prometheus prometheus
        build_image "$PROMETHEUS_IMAGE" compose/prometheus
    fi
    if [ "$ALERTMANAGER_IMAGE" = qbitel-alertmanager:local ]; then
        debs_for compose/alertmanager prometheus-alertmanager
        build_image "$ALERTMANAGER_IMAGE" compose/alertmanager
    fi
    if [ "$POSTGRES_EXPORTER_IMAGE" = qbitel-postgres-exporter:local ]; then
        debs_for compose/postgres-exporter prometheus-postgres-exporter
        build_image "$POSTGRES_EXPORTER_IMAGE" compose/postgres-exporter
    fi
}

ensure_images() {
    ensure_base_image
    if [ "$POSTGRES_IMAGE" = qbitel-postgres:local ]; then build_image "$POSTGRES_IMAGE" compose/postgres; fi
    if [ "$TOXIPROXY_IMAGE" = qbitel-toxiproxy:2.12.0 ]; then
        ensure_toxiproxy
        build_image "$TOXIPROXY_IMAGE" compose/toxiproxy
    fi
    if [ "$ENGINE_IMAGE" = qbitel-engine:local ]; then
        wheelhouse
        build_image "$ENGINE_IMAGE" compose/engine
    fi
    ensure_monitoring_images
}

ensure_systemd_image() {
    ensure_images
    build_image "$SYSTEMD_IMAGE" compose/systemd "$ENGINE_IMAGE"
}

main() {
    [ $# -eq 0 ] && set -- all
    for what in "$@"; do
        case "$what" in
            all) ensure_packages; ensure_docker; ensure_venv; ensure_images ;;
            packages) ensure_packages ;;
            docker) ensure_docker ;;
            venv) ensure_venv ;;
            toxiproxy) ensure_toxiproxy ;;
            images) ensure_images ;;
            monitoring-images) ensure_base_image; ensure_monitoring_images ;;
            systemd-image) ensure_systemd_image ;;
            print-venv) venv_dir ;;
            *) die "unknown bootstrap step '$what'" "use one of: all packages docker venv toxiproxy images monitoring-images systemd-image" ;;
        esac
    done
}

# Sourced (by tests), it only defines the steps.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
