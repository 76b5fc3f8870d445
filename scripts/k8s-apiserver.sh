#!/usr/bin/env bash
# A real Kubernetes API server on loopback, for the Kubernetes target's tests and for trying
# `--target kubernetes` without a cluster: kube-apiserver built from source (k8s/apiserver, a
# module of our own, through the Go module proxy) over etcd (Debian's etcd-server binary).
# No kubelet, scheduler or controller-manager: tests write pods and their statuses themselves.
#
#   scripts/k8s-apiserver.sh build    build kube-apiserver once (cached, keyed by version + inputs)
#   scripts/k8s-apiserver.sh up       build if needed, start etcd + kube-apiserver, wait for /readyz
#   scripts/k8s-apiserver.sh down     stop both, remove etcd's data (certificates stay cached)
#   scripts/k8s-apiserver.sh status   say whether it answers (exit 3 when down)
#   scripts/k8s-apiserver.sh env      print `export KUBECONFIG=...` lines for eval
#
# Everything lives under $SERVICEDOWN_CACHE/k8s. Ports: K8S_APISERVER_PORT (16443),
# K8S_ETCD_PORT (12379, and the next one for etcd's peer URL).
set -uo pipefail
. "$(dirname "$0")/lib.sh"

MODULE_DIR="$REPO_ROOT/k8s/apiserver"
K8S_DIR="$SERVICEDOWN_CACHE/k8s"
BIN_DIR="$K8S_DIR/bin"
PKI_DIR="$K8S_DIR/pki"
RUN_DIR="$K8S_DIR/run"
DATA_DIR="$K8S_DIR/data"
LOG_DIR="$K8S_DIR/logs"
KUBECONFIG_FILE="$K8S_DIR/kubeconfig"
NOACCESS_KUBECONFIG="$K8S_DIR/kubeconfig-noaccess"
APISERVER_PORT="${K8S_APISERVER_PORT:-16443}"
ETCD_PORT="${K8S_ETCD_PORT:-12379}"
ETCD_PEER_PORT=$((ETCD_PORT + 1))
SERVICE_CIDR="${K8S_SERVICE_CIDR:-10.96.0.0/16}"
SERVICE_IP="10.96.0.1"  # the first address of SERVICE_CIDR: the `kubernetes` Service's
BUILD_TIMEOUT="${K8S_BUILD_TIMEOUT:-3600}"  # a cold build on 2 cores takes minutes, not an hour
READY_TIMEOUT="${K8S_READY_TIMEOUT:-240}"  # a loaded 2-core machine needed more than 90 s
ETCD_DEB_VERSION_HINT="3.4"

# The version is the one go.mod requires, so the cache key follows the module.
K8S_VERSION=$(sed -nE 's/^[[:space:]]*(require[[:space:]]+)?k8s\.io\/kubernetes[[:space:]]+(v[^[:space:]]+).*/\2/p' \
    "$MODULE_DIR/go.mod" 2>/dev/null | head -n 1)
[ -n "$K8S_VERSION" ] || die "cannot read the k8s.io/kubernetes version from $MODULE_DIR/go.mod" \
    "restore k8s/apiserver/go.mod from git"
mkdir -p "$BIN_DIR" "$PKI_DIR" "$RUN_DIR" "$LOG_DIR"

go_bin() {
    if command -v go >/dev/null; then command -v go; return; fi
    [ -x /usr/local/go/bin/go ] && { echo /usr/local/go/bin/go; return; }
    return 1
}

# One binary per version and per build input (go.mod, go.sum, main.go, the Go toolchain).
binary_path() {
    local gover h
    gover=$("$(go_bin 2>/dev/null || echo false)" version 2>/dev/null || echo "no-go")
    h=$( (cd "$MODULE_DIR" && cat go.mod go.sum main.go; echo "$gover") | sha256sum | cut -c1-12)
    echo "$BIN_DIR/kube-apiserver-$K8S_VERSION-$h"
}

# Serialise build/up/down between concurrent callers (two pytest sessions, make k8s-up).
# The daemons are started with fd 9 closed (`9>&-`): holding it, they would hold the lock.
take_lock() {
    exec 9>"$K8S_DIR/.lock"
    flock -w "$1" 9 || die "another k8s-apiserver.sh is still running (lock $K8S_DIR/.lock held for $1 s)" \
        "wait for it to finish, or look for it with 'ps -ef | grep k8s-apiserver'"
}

cmd_build() {
    local bin; bin="$(binary_path)"
    if [ -x "$bin" ]; then
        info "kube-apiserver $K8S_VERSION cached ($bin)"
        ln -sfn "$bin" "$BIN_DIR/kube-apiserver"
        return
    fi
    local go; go="$(go_bin)" || die "Go is needed to build kube-apiserver $K8S_VERSION from source" \
        "install Go 1.26+ (go.dev/dl) so that 'go' or /usr/local/go/bin/go exists"
    local log="$LOG_DIR/build-$K8S_VERSION.log" start total pid n rc
    step "building kube-apiserver $K8S_VERSION from source (Go module proxy; cold: minutes, log: $log)"
    start=$(date +%s)
    cd "$MODULE_DIR" || die "no $MODULE_DIR" "restore k8s/apiserver from git"
    # Downloading first makes a proxy failure one clear message instead of a compile error.
    if ! GOFLAGS=-mod=readonly quiet_run 900 "$LOG_DIR/download-$K8S_VERSION.log" "$go" mod download; then
        die "downloading the modules of k8s.io/kubernetes $K8S_VERSION failed (log above)" \
            "check that the Go module proxy answers ('$go env GOPROXY'), then run again"
    fi
    total=$(GOFLAGS=-mod=readonly timeout 300 "$go" list -deps . 2>/dev/null | wc -l)
    info "modules downloaded; compiling up to $total packages"
    local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION"
    ldflags+=" -X k8s.io/component-base/version.gitMajor=$(echo "$K8S_VERSION" | sed -E 's/^v([0-9]+).*/\1/')"
    ldflags+=" -X k8s.io/component-base/version.gitMinor=$(echo "$K8S_VERSION" | sed -E 's/^v[0-9]+\.([0-9]+).*/\1/')"
    ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
    ldflags+=" -X k8s.io/component-base/version.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    # -v names each package as it compiles: the log is the progress meter below.
    CGO_ENABLED=0 GOFLAGS=-mod=readonly timeout --kill-after=30 "$BUILD_TIMEOUT" \
        "$go" build -v -trimpath -ldflags "$ldflags" -o "$bin.tmp" . >"$log" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        sleep 30
        kill -0 "$pid" 2>/dev/null || break
        n=$(grep -cv '^#' "$log" 2>/dev/null)
        info "still compiling: ${n:-0} of up to $total packages built, $(( $(date +%s) - start )) s"
    done
    wait "$pid"; rc=$?
    if [ "$rc" -ne 0 ] || [ ! -x "$bin.tmp" ]; then
        rm -f "$bin.tmp"
        tail -n 20 "$log" >&2
        [ "$rc" -eq 124 ] && die "building kube-apiserver did not finish within $BUILD_TIMEOUT s (log: $log)" \
            "run 'scripts/k8s-apiserver.sh build' once on its own (compiled packages stay in Go's cache), or raise K8S_BUILD_TIMEOUT"
        die "building kube-apiserver $K8S_VERSION failed (log above, full log: $log)" \
            "read the first error in the log; a proxy error means the module proxy is unreachable"
    fi
    mv "$bin.tmp" "$bin"
    ln -sfn "$bin" "$BIN_DIR/kube-apiserver"
    info "kube-apiserver $K8S_VERSION built in $(( $(date +%s) - start )) s ($bin)"
}

# etcd: $K8S_ETCD_BIN, one on PATH, or Debian's etcd-server binary unpacked into the cache
# (apt-get download + dpkg-deb -x: no daemon is installed or started system-wide).
etcd_bin() {
    if [ -n "${K8S_ETCD_BIN:-}" ]; then echo "$K8S_ETCD_BIN"; return; fi
    if command -v etcd >/dev/null; then command -v etcd; return; fi
    local found; found=$(ls -1 "$K8S_DIR"/etcd-*/usr/bin/etcd 2>/dev/null | tail -n 1)
    [ -n "$found" ] && { echo "$found"; return; }
    return 1
}

ensure_etcd() {
    etcd_bin >/dev/null && return
    command -v apt-get >/dev/null || die "etcd is missing and this is not a Debian system" \
        "install etcd $ETCD_DEB_VERSION+ and put it on PATH, or set K8S_ETCD_BIN"
    step "fetching etcd from Debian's etcd-server package (unpacked into $K8S_DIR, not installed)"
    local tmp; tmp=$(mktemp -d)
    if ! (cd "$tmp" && quiet_run 300 "$LOG_DIR/etcd-download.log" apt-get download etcd-server); then
        if [ "$(id -u)" = 0 ]; then
            quiet_run 300 "$LOG_DIR/apt-update.log" apt-get update -q \
                || { rm -rf "$tmp"; die "apt-get update failed (log above)" "check that Debian's mirror is reachable"; }
            (cd "$tmp" && quiet_run 300 "$LOG_DIR/etcd-download.log" apt-get download etcd-server) \
                || { rm -rf "$tmp"; die "apt-get download etcd-server failed (log above)" \
                    "install etcd yourself and set K8S_ETCD_BIN"; }
        else
            rm -rf "$tmp"
            die "apt-get download etcd-server failed (log above)" "run 'apt-get update' as root, or set K8S_ETCD_BIN"
        fi
    fi
    local deb ver; deb=$(ls "$tmp"/etcd-server_*.deb | head -n 1)
    ver=$(basename "$deb" | cut -d_ -f2)
    dpkg-deb -x "$deb" "$K8S_DIR/etcd-$ver" || { rm -rf "$tmp"; die "unpacking $deb failed" "remove $K8S_DIR/etcd-* and run again"; }
    rm -rf "$tmp"
    info "etcd $ver unpacked"
}

# Certificates and keys, made once: a CA, the server's certificate for 127.0.0.1/localhost and
# the `kubernetes` Service names, the service-account signing pair, and an admin client
# certificate (group system:masters). A token for a user with no RBAC rights lets tests see
# a "forbidden" answer.
ensure_pki() {
    [ -s "$PKI_DIR/admin.crt" ] && [ -s "$PKI_DIR/tokens.csv" ] && return
    command -v openssl >/dev/null || die "openssl is missing" "apt-get install -y openssl"
    step "generating certificates and keys ($PKI_DIR)"
    local log="$LOG_DIR/openssl.log"
    (
        set -e
        cd "$PKI_DIR"
        umask 077
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -keyout ca.key -out ca.crt \
            -subj "/CN=servicedown-k8s-ca"
        cat >server.ext <<EOF
basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:$SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
EOF
        openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=kube-apiserver"
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
            -extfile server.ext -out server.crt
        printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >client.ext
        openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr \
            -subj "/O=system:masters/CN=servicedown-admin"
        openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
            -extfile client.ext -out admin.crt
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key
        openssl pkey -in sa.key -pubout -out sa.pub
        printf '%s,servicedown-noaccess,servicedown-noaccess\n' "$(openssl rand -hex 24)" >tokens.csv
        rm -f ./*.csr ./*.ext ca.srl
    ) >"$log" 2>&1 || { tail -n 20 "$log" >&2; rm -f "$PKI_DIR"/*; die "generating certificates failed (log above)" "check openssl"; }
}

write_kubeconfigs() {
    local server="https://127.0.0.1:$APISERVER_PORT" ca cert key token
    ca=$(base64 -w0 <"$PKI_DIR/ca.crt"); cert=$(base64 -w0 <"$PKI_DIR/admin.crt")
    key=$(base64 -w0 <"$PKI_DIR/admin.key"); token=$(cut -d, -f1 "$PKI_DIR/tokens.csv")
    (umask 077; cat >"$KUBECONFIG_FILE.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: servicedown
  cluster: {server: "$server", certificate-authority-data: "$ca"}
users:
- name: servicedown-admin
  user: {client-certificate-data: "$cert", client-key-data: "$key"}
contexts:
- name: servicedown
  context: {cluster: servicedown, user: servicedown-admin, namespace: qbitel}
current-context: servicedown
EOF
    cat >"$NOACCESS_KUBECONFIG.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: servicedown
  cluster: {server: "$server", certificate-authority-data: "$ca"}
users:
- name: servicedown-noaccess
  user: {token: "$token"}
contexts:
- name: servicedown-noaccess
  context: {cluster: servicedown, user: servicedown-noaccess, namespace: qbitel}
current-context: servicedown-noaccess
EOF
    )
    mv "$KUBECONFIG_FILE.tmp" "$KUBECONFIG_FILE"
    mv "$NOACCESS_KUBECONFIG.tmp" "$NOACCESS_KUBECONFIG"
}

# A pid file's process, only while it is still the program we started (pids get reused).
live_pid() {
    local file="$RUN_DIR/$1.pid" pid
    [ -f "$file" ] || return 1
    pid=$(cat "$file")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -qa "$2" "/proc/$pid/cmdline" 2>/dev/null \
        && { echo "$pid"; return 0; }
    return 1
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

readyz() {
    curl -s --max-time 3 --cacert "$PKI_DIR/ca.crt" --cert "$PKI_DIR/admin.crt" --key "$PKI_DIR/admin.key" \
        "https://127.0.0.1:$APISERVER_PORT/readyz" 2>/dev/null
}

etcd_healthy() { curl -s --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"'; }

start_etcd() {
    if live_pid etcd etcd >/dev/null && etcd_healthy; then info "etcd already running"; return; fi
    port_busy "$ETCD_PORT" && die "port $ETCD_PORT is taken by another program, so etcd cannot listen there" \
        "stop that program, or choose another port with K8S_ETCD_PORT=..."
    local bin; bin=$(etcd_bin)
    mkdir -p "$DATA_DIR"
    # Unsafe fsync off: a throwaway data dir on a busy shared disk, where fsync stalls would
    # only slow the tests down.
    nohup "$bin" --name servicedown --data-dir "$DATA_DIR/etcd" \
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-cluster "servicedown=http://127.0.0.1:$ETCD_PEER_PORT" \
        --unsafe-no-fsync --log-level warn >"$RUN_DIR/etcd.log" 2>&1 9>&- &
    echo $! >"$RUN_DIR/etcd.pid"
    local i
    for i in $(seq 1 60); do
        etcd_healthy && { info "etcd ready after $((i / 2)) s"; return; }
        live_pid etcd etcd >/dev/null || break
        sleep 0.5
    done
    tail -n 15 "$RUN_DIR/etcd.log" >&2
    die "etcd did not become healthy within 30 s (log: $RUN_DIR/etcd.log)" "read the log above"
}

start_apiserver() {
    if live_pid kube-apiserver kube-apiserver >/dev/null && [ "$(readyz)" = ok ]; then
        info "kube-apiserver already running"; return
    fi
    if pid=$(live_pid kube-apiserver kube-apiserver); then kill "$pid" 2>/dev/null; sleep 1; fi
    port_busy "$APISERVER_PORT" && die "port $APISERVER_PORT is taken by another program" \
        "stop that program, or choose another port with K8S_APISERVER_PORT=..."
    # Admission stays minimal: ServiceAccount admission would refuse pods until a controller
    # made each namespace's `default` ServiceAccount, and no controller runs here.
    # No endpoint reconciler: it refuses a loopback advertise address, and only in-cluster
    # clients (none here) use the `kubernetes` Service's endpoints.
    # The audit log (request metadata only: who, verb, URI) lets tests prove which requests
    # a run made, e.g. that no Secret's data was ever asked for.
    mkdir -p "$DATA_DIR"
    printf 'apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Metadata\n' \
        >"$DATA_DIR/audit-policy.yaml"
    nohup "$BIN_DIR/kube-apiserver" \
        --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
        --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
        --tls-cert-file "$PKI_DIR/server.crt" --tls-private-key-file "$PKI_DIR/server.key" \
        --client-ca-file "$PKI_DIR/ca.crt" --token-auth-file "$PKI_DIR/tokens.csv" \
        --service-account-key-file "$PKI_DIR/sa.pub" --service-account-signing-key-file "$PKI_DIR/sa.key" \
        --service-account-issuer https://kubernetes.default.svc.cluster.local \
        --service-cluster-ip-range "$SERVICE_CIDR" \
        --endpoint-reconciler-type none \
        --authorization-mode RBAC \
        --disable-admission-plugins ServiceAccount \
        --kubelet-preferred-address-types InternalIP,Hostname \
        --audit-policy-file "$DATA_DIR/audit-policy.yaml" --audit-log-path "$DATA_DIR/audit.log" \
        --audit-log-maxsize 50 --audit-log-maxbackup 1 \
        --profiling=false --v=1 >"$RUN_DIR/kube-apiserver.log" 2>&1 9>&- &
    echo $! >"$RUN_DIR/kube-apiserver.pid"
}

wait_ready() {
    local start i answer=""
    start=$(date +%s)
    for i in $(seq 1 $((READY_TIMEOUT * 2))); do
        answer=$(readyz)
        if [ "$answer" = ok ]; then
            info "kube-apiserver ready after $(( $(date +%s) - start )) s on https://127.0.0.1:$APISERVER_PORT"
            return
        fi
        live_pid kube-apiserver kube-apiserver >/dev/null || break
        sleep 0.5
    done
    tail -n 20 "$RUN_DIR/kube-apiserver.log" >&2
    die "kube-apiserver did not answer /readyz ok within $READY_TIMEOUT s (last answer: ${answer:-none}; log: $RUN_DIR/kube-apiserver.log)" \
        "read the log above; 'scripts/k8s-apiserver.sh down' then 'up' starts from clean data"
}

cmd_up() {
    command -v curl >/dev/null || die "curl is missing" "apt-get install -y curl"
    cmd_build
    ensure_etcd
    ensure_pki
    write_kubeconfigs
    step "starting etcd and kube-apiserver $K8S_VERSION on 127.0.0.1"
    start_etcd
    start_apiserver
    wait_ready
    info "kubeconfig: $KUBECONFIG_FILE (eval \"\$(scripts/k8s-apiserver.sh env)\")"
}

stop_one() {
    local name="$1" pid i
    if pid=$(live_pid "$name" "$name"); then
        kill "$pid" 2>/dev/null
        for i in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
        info "$name stopped"
    fi
    rm -f "$RUN_DIR/$name.pid"
}

cmd_down() {
    step "stopping kube-apiserver and etcd"
    stop_one kube-apiserver
    stop_one etcd
    rm -rf "$DATA_DIR"
    info "etcd data removed"
}

cmd_status() {
    local api etcd
    api=$(live_pid kube-apiserver kube-apiserver || echo "-")
    etcd=$(live_pid etcd etcd || echo "-")
    if [ "$api" != "-" ] && [ "$(readyz)" = ok ]; then
        echo "up: kube-apiserver $K8S_VERSION (pid $api) on https://127.0.0.1:$APISERVER_PORT, etcd (pid $etcd); kubeconfig $KUBECONFIG_FILE"
        return 0
    fi
    echo "down: kube-apiserver pid $api, etcd pid $etcd (start with 'scripts/k8s-apiserver.sh up')"
    return 3
}

cmd_env() {
    echo "export KUBECONFIG=$KUBECONFIG_FILE"
    echo "export SERVICEDOWN_KUBECONFIG=$KUBECONFIG_FILE"
    echo "export K8S_AUDIT_LOG=$DATA_DIR/audit.log"
}

[ $# -eq 1 ] || die "usage: scripts/k8s-apiserver.sh build|up|down|status|env" "name one action"
case "$1" in
    build) take_lock "$BUILD_TIMEOUT"; cmd_build ;;
    up) take_lock $((BUILD_TIMEOUT + 300)); cmd_up ;;
    down) take_lock 120; cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
    *) die "unknown action '$1'" "use one of build, up, down, status, env" ;;
esac
