#!/usr/bin/env bash
# A real single-node Kubernetes for tests and the quickstart: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and a kubelet driving Debian's docker.io engine through
# kubelet 1.20's built-in dockershim.
#
# Why this exists: no PyPI, npm or Debian binary package ships Kubernetes binaries, and no image
# registry is reachable. Debian's `kubernetes` *source* package (upstream 1.20.x with its vendor/
# tree) builds with Debian's Go, so we build it once per machine, cache the binaries outside the
# repo (keyed by the Debian source version) and run them on loopback; images are imported from a
# debootstrap rootfs (scripts/node-images.sh). See /work/shared/notes/kube-apiserver.md and
# real-pods.md for the facts this script relies on.
#
# Usage:
#   scripts/kube-node.sh build [--force]              build (or find cached) binaries; prints bin dir
#   scripts/kube-node.sh path                         print the cached bin dir (exit 1 if not built)
#   scripts/kube-node.sh start [--no-node] DIR [PORT] start the node (control plane only: --no-node)
#   scripts/kube-node.sh stop DIR                     stop everything and remove DIR
#   scripts/kube-node.sh watch PID STARTTIME DIR      (internal) the watchdog `start` runs
#
# `start` runs etcd, kube-apiserver (ServiceAccount admission on), kube-controller-manager
# (garbagecollector, namespace, nodelifecycle, serviceaccount, serviceaccount-token) and, unless
# --no-node, a Docker engine (scripts/docker-engine.sh), the local pause and job images,
# kube-scheduler and kubelet; it returns once the node is Ready and schedulable. DIR/cluster.env
# then says how to reach it (SERVER, KUBECONFIG, JOB_IMAGE, DOCKER_HOST, ...).
# `stop` stops every process, removes the pods' containers, unmounts what kubelet and dockerd
# mounted under DIR, and removes DIR (ASP_KUBE_KEEP_LOGS=1 keeps DIR/*.log for debugging).
#
# Environment:
#   ASP_KUBE_CACHE       cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/airflow-secrets-provider)
#   ASP_KUBE_OWNER_PID   (start) stop the cluster automatically once this process has exited
#                        (or been killed, even while `start` is still running), so a crashed or
#                        SIGKILLed test run cannot leave a node behind. The watchdog checks the
#                        owner once a second: gone, a zombie, or its pid reused all count as gone.
#
# Progress goes to stderr; the only stdout of `build`/`path` is the bin dir.
set -euo pipefail

readonly SRC_PACKAGE=kubernetes
readonly CACHE_ROOT="${ASP_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/airflow-secrets-provider}"
readonly DEB_SRC_FILE=/etc/apt/sources.list.d/airflow-secrets-provider-deb-src.sources
readonly DEB_SRC_LIST_FILE=/etc/apt/sources.list.d/airflow-secrets-provider-deb-src.list
readonly BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet)
# Bump when the build recipe changes what the binaries are; a cached build of another recipe is
# rebuilt in place (file by file, so running clusters keep their binaries).
#   2: vendored modern-go/reflect2 replaced by Debian's 1.0.2 (1.0.1 panics under Go >= 1.18 when
#      the API server encodes a Node as JSON: "apiserver panic'd on GET /api/v1/nodes/...").
#   3: the patches in scripts/patches/kubernetes applied (their digest is part of the recipe, so
#      editing one rebuilds too).
readonly RECIPE_VERSION=3
readonly REFLECT2_SRC=/usr/share/gocode/src/github.com/modern-go/reflect2
# pid files a node may hold (stop ends the watchdog last; the kubelet before the engine its
# containers run on)
readonly PROCESSES=(watchdog kubelet kube-scheduler kube-controller-manager kube-apiserver etcd)
# Seconds between two looks of the watchdog at its owner.
readonly WATCH_INTERVAL=1
SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPTS_DIR
# Source patches the build applies, in name order (see each file's header for why).
readonly PATCHES_DIR="$SCRIPTS_DIR/patches/kubernetes"
RECIPE="$RECIPE_VERSION $(cat "$PATCHES_DIR"/*.patch | sha256sum | cut -c1-16)"
readonly RECIPE
readonly NODE_NAME=asp-node
readonly MARKER=.asp-kube-node

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# --------------------------------------------------------------------------------------------
# Version / cache lookup
# --------------------------------------------------------------------------------------------

# Debian source version of `kubernetes` that apt would fetch, or nothing if apt does not know
# about source packages (no deb-src entry yet, or its index was never downloaded).
debian_source_version() {
    local v best=""
    while read -r v; do
        [ -n "$v" ] || continue
        if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then best=$v; fi
    done < <(apt-cache showsrc --only-source "$SRC_PACKAGE" 2>/dev/null | sed -n 's/^Version: //p')
    printf '%s' "$best"
}

# Upstream version from a Debian version: strip epoch and revision, honour "+really", drop +ds.
upstream_version() {
    local v=$1
    v=${v#*:}
    v=${v%-*}
    case $v in *really*) v=${v##*really} ;; esac
    v=${v%%+*}
    v=${v%%~*}
    printf '%s' "$v"
}

have_binaries() {
    local dir=$1 b
    for b in "${BINARIES[@]}"; do [ -x "$dir/$b" ] || return 1; done
    [ "$(cat "$dir/../recipe" 2>/dev/null)" = "$RECIPE" ]
}

# The bin dir to use: the one for apt's current source version if it is built; failing that
# (apt knows no source version, e.g. deb-src removed since) the newest cached build.
cached_bin_dir() {
    local version dir newest=""
    version=$(debian_source_version)
    if [ -n "$version" ]; then
        dir="$CACHE_ROOT/kubernetes-$version/bin"
        if have_binaries "$dir"; then
            printf '%s\n' "$dir"
            return 0
        fi
        return 1
    fi
    for dir in "$CACHE_ROOT"/kubernetes-*/bin; do
        have_binaries "$dir" && newest=$dir
    done
    [ -n "$newest" ] || return 1
    printf '%s\n' "$newest"
}

# --------------------------------------------------------------------------------------------
# build
# --------------------------------------------------------------------------------------------


ensure_packages() {
    local missing=()
    command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
    command -v go >/dev/null 2>&1 || missing+=(golang-go)
    command -v dpkg-source >/dev/null 2>&1 || missing+=(dpkg-dev)
    command -v patch >/dev/null 2>&1 || missing+=(patch)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    command -v curl >/dev/null 2>&1 || missing+=(curl ca-certificates)
    [ -f "$REFLECT2_SRC/go_above_118.go" ] || missing+=(golang-github-modern-go-reflect2-dev)
    [ ${#missing[@]} -gt 0 ] || return 0
    apt_install "${missing[@]}"
}

deb_src_configured() {
    # shellcheck disable=SC2016 # $(CREATED_BY) is apt's format syntax, not the shell's
    apt-get indextargets --format '$(CREATED_BY)' 2>/dev/null | grep -x Sources >/dev/null
}

# Add deb-src twins of the Debian `deb` entries: apt-get source needs them, and they change
# nothing about which binary packages get installed.
ensure_deb_src() {
    if ! deb_src_configured; then
        local f tmp
        tmp=$(mktemp)
        for f in /etc/apt/sources.list.d/*.sources; do
            [ -f "$f" ] || continue
            # paragraph mode: copy each Debian stanza of type deb, retyped as deb-src
            awk 'BEGIN { RS = ""; ORS = "\n\n" }
                 /(^|\n)Types:[^\n]*(^|[ \t])deb([ \t]|\n|$)/ && /(^|\n)URIs:[^\n]*debian/ {
                     sub(/(^|\n)Types:[^\n]*/, "\nTypes: deb-src"); sub(/^\n/, ""); print
                 }' "$f" >>"$tmp"
        done
        if [ -s "$tmp" ]; then
            log "adding deb-src entries: $DEB_SRC_FILE"
            as_root install -m 0644 "$tmp" "$DEB_SRC_FILE"
        else
            # one-line format (/etc/apt/sources.list, *.list)
            grep -hE '^[[:space:]]*deb[[:space:]].*debian' /etc/apt/sources.list \
                /etc/apt/sources.list.d/*.list 2>/dev/null |
                sed -E 's/^[[:space:]]*deb[[:space:]]/deb-src /' >"$tmp" || true
            [ -s "$tmp" ] || { rm -f "$tmp"; die "found no Debian 'deb' apt source to copy as deb-src"; }
            log "adding deb-src entries: $DEB_SRC_LIST_FILE"
            as_root install -m 0644 "$tmp" "$DEB_SRC_LIST_FILE"
        fi
        rm -f "$tmp"
    fi
    if [ -z "$(debian_source_version)" ]; then
        log "apt-get update (source index)"
        apt_update
    fi
    [ -n "$(debian_source_version)" ] || die "apt knows no source package '$SRC_PACKAGE' even with deb-src"
}

# Packages carrying a +k8s:openapi-gen= tag, as GOPATH import paths: the same selection as
# upstream's Makefile.generated_files (KUBE_OPENAPI_TAG_FILES), which walks the tree without
# ./vendor, names staging repos by their vendor/ path, and leaves out code-generator and
# sample-apiserver (their own examples, not part of the kube-apiserver API).
openapi_input_packages() (
    set +o pipefail # grep exits 1 on a batch without matches
    find -H . \( -path './_*' -o -path './.*' -o -path ./vendor -o -path ./debian \) -prune \
        -o -type f -name '*.go' -print0 |
        xargs -0 grep -l --color=never '^// *+k8s:' |
        xargs grep -l --color=never '+k8s:openapi-gen=' |
        sed -e 's|^\./||' -e 's|^staging/src/|vendor/|' |
        xargs -n1 dirname |
        grep -v -e '^vendor/k8s.io/code-generator/' -e '^vendor/k8s.io/sample-apiserver/' |
        LC_ALL=C sort -u |
        sed 's|^|k8s.io/kubernetes/|'
)

do_build() {
    local t0=$SECONDS dir force=0
    case ${1:-} in
    --force) force=1 ;;
    "") ;;
    *) die "usage: build [--force]" ;;
    esac
    ensure_packages

    # Fast path: already built for apt's version (or, without deb-src, any cached version).
    if [ "$force" = 0 ] && dir=$(cached_bin_dir); then
        printf '%s\n' "$dir"
        return 0
    fi

    ensure_deb_src
    local version upstream
    version=$(debian_source_version)
    upstream=$(upstream_version "$version")
    local root="$CACHE_ROOT/kubernetes-$version"
    mkdir -p "$CACHE_ROOT"

    # One build per cache root at a time; a second caller waits and then hits the cache.
    exec 9>"$CACHE_ROOT/.build.lock"
    log "waiting for build lock $CACHE_ROOT/.build.lock"
    flock 9
    if [ "$force" = 0 ] && have_binaries "$root/bin"; then
        printf '%s\n' "$root/bin"
        return 0
    fi

    log "building kubernetes $version (upstream v$upstream) into $root; cold build takes ~10 min"
    local downloads="$root/downloads" src="$CACHE_ROOT/work/kubernetes-src"
    mkdir -p "$downloads"
    # Always asked: apt skips files already downloaded and verified, and completes a download
    # an earlier run lost half way (the small .dsc arrives before the large tarball).
    log "apt-get source --download-only $SRC_PACKAGE=$version"
    (cd "$downloads" && apt-get source --download-only "$SRC_PACKAGE=$version" >&2)
    log "unpacking source to $src"
    rm -rf "$src"
    mkdir -p "$(dirname "$src")"
    if ! dpkg-source -x "$downloads"/"${SRC_PACKAGE}"_*.dsc "$src" >&2; then
        rm -rf "$downloads"  # a corrupt download must not be reused by the next attempt
        die "unpacking the $SRC_PACKAGE source failed; downloads removed, run the build again"
    fi

    # The vendored reflect2 1.0.1 predates Go 1.18's map layout and panics at run time; Debian's
    # packaged 1.0.2 is API-compatible.
    log "replacing vendor/github.com/modern-go/reflect2 with Debian's $(dpkg-query -W -f '${Version}' golang-github-modern-go-reflect2-dev)"
    rm -rf "$src/vendor/github.com/modern-go/reflect2"
    mkdir -p "$src/vendor/github.com/modern-go/reflect2"
    find "$REFLECT2_SRC" -maxdepth 1 -name '*.go' ! -name '*_test.go' -exec cp {} "$src/vendor/github.com/modern-go/reflect2/" \;

    local patch
    for patch in "$PATCHES_DIR"/*.patch; do
        log "applying $(basename "$patch")"
        patch -d "$src" -p1 --forward --no-backup-if-mismatch <"$patch" >&2 ||
            die "$(basename "$patch") does not apply to $SRC_PACKAGE $version"
    done

    # GOPATH mode (module mode wants go.mod updates it cannot download): link the tree where
    # its import path says it lives, and keep GOPATH and the Go build cache in our cache root.
    export GOPATH="$CACHE_ROOT/gopath" GOCACHE="$CACHE_ROOT/go-build"
    export GO111MODULE=off CGO_ENABLED=0 GOFLAGS='' GOPROXY=off
    local pkgdir="$GOPATH/src/k8s.io/kubernetes"
    mkdir -p "$GOPATH/src/k8s.io" "$GOPATH/bin"
    ln -sfn "$src" "$pkgdir"
    cd "$pkgdir"
    log "go: $(go version)"

    log "building openapi-gen (vendored)"
    go build -o "$GOPATH/bin/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
    local inputs
    inputs=$(openapi_input_packages | paste -sd, -)
    [ -n "$inputs" ] || die "found no packages tagged +k8s:openapi-gen="
    log "generating pkg/generated/openapi from $(tr ',' '\n' <<<"$inputs" | wc -l) packages"
    "$GOPATH/bin/openapi-gen" \
        --input-dirs "$inputs" \
        --output-package k8s.io/kubernetes/pkg/generated/openapi \
        --output-file-base zz_generated.openapi \
        --go-header-file vendor/k8s.io/code-generator/hack/boilerplate.go.txt \
        --output-base "$GOPATH/src" \
        --report-filename "$src/openapi-violations.list" >&2
    [ -f pkg/generated/openapi/zz_generated.openapi.go ] || die "openapi-gen wrote no output"

    local major minor ldflags p
    major=${upstream%%.*}
    minor=${upstream#*.}
    minor=${minor%%.*}
    ldflags="-s -w"
    for p in k8s.io/kubernetes/vendor/k8s.io/component-base/version \
        k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
        ldflags+=" -X $p.gitVersion=v$upstream -X $p.gitMajor=$major -X $p.gitMinor=$minor"
        ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    done

    local staging="$root/bin.partial"
    rm -rf "$staging"
    mkdir -p "$staging"
    log "go build ${BINARIES[*]} (this is the slow part)"
    go build -ldflags "$ldflags" -o "$staging/" ./cmd/kube-apiserver ./cmd/kube-controller-manager ./cmd/kube-scheduler ./cmd/kubelet
    "$staging/kube-apiserver" --version >&2
    # Install file by file with rename(2), so a concurrent `start` (or a running control
    # plane) never sees a missing or half-written binary, even on `build --force`.
    mkdir -p "$root/bin"
    local b
    for b in "${BINARIES[@]}"; do mv -f "$staging/$b" "$root/bin/$b"; done
    rmdir "$staging"
    printf '%s\n' "$version" >"$root/debian-version"
    printf '%s\n' "$RECIPE" >"$root/recipe"

    # dpkg-source also leaves a copy of the orig tarball next to the tree: drop the whole work
    # dir (the downloads stay, so a rebuild needs no network).
    log "removing unpacked source $CACHE_ROOT/work"
    cd /
    rm -f "$pkgdir"
    rm -rf "$CACHE_ROOT/work"
    log "built in $((SECONDS - t0)) s: $root/bin"
    printf '%s\n' "$root/bin"
}

do_path() {
    cached_bin_dir || {
        log "kubernetes is not built; run: $0 build"
        exit 1
    }
}

# --------------------------------------------------------------------------------------------
# start / stop
# --------------------------------------------------------------------------------------------

# A port is taken if any TCP socket (listening, connected or closing) is bound to it locally:
# binding a listener fails on a port an outgoing connection holds, which a connect probe misses.
port_in_use() {
    local hex
    hex=$(printf ':%04X ' "$1")
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '{print $2" "}' | grep -qF "$hex"
}

# free_port VAR: set VAR to a loopback port no socket uses and this run has not handed out.
# Ports come from below the kernel's ephemeral range, so outgoing connections made after the
# check (the test run opens many) cannot grab them before etcd or kube-apiserver binds.
# (Assigns by name rather than printing: a $(...) subshell would lose USED_PORTS.)
free_port() {
    local p low=32768 span
    read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
    [ "$low" -gt 11000 ] || low=32768
    span=$((low - 10000))
    for _ in $(seq 1 200); do
        p=$((10000 + RANDOM % span))
        case " ${USED_PORTS:-} " in *" $p "*) continue ;; esac
        if ! port_in_use "$p"; then
            USED_PORTS="${USED_PORTS:-} $p"
            printf -v "$1" '%s' "$p"
            return 0
        fi
    done
    die "no free loopback port found"
}

random_token() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }

pid_alive() {
    local pidfile=$1 pid
    [ -f "$pidfile" ] || return 1
    pid=$(cat "$pidfile")
    [ -n "$pid" ] && process_running "$pid"
}

# Start "$@" detached in its own session (so a Ctrl-C aimed at the test run does not tear it
# down out of order) with output to a log; record its pid.
spawn() {
    local name=$1 dir=$2
    shift 2
    # Without job control a background child is not a group leader, so setsid execs in place
    # and $! is the real process id.
    setsid "$@" </dev/null >>"$dir/$name.log" 2>&1 &
    printf '%s\n' "$!" >"$dir/$name.pid"
}

wait_until() {
    local what=$1 timeout=$2 pidfile=$3 logfile=$4
    shift 4
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        if ! pid_alive "$pidfile"; then
            tail -n 30 "$logfile" >&2 || true
            die "$what exited during startup (log: $logfile)"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 30 "$logfile" >&2 || true
            die "$what not ready after ${timeout}s (log: $logfile)"
        fi
        sleep 0.3
    done
}

etcd_healthy() { [[ $(curl -fsS "http://127.0.0.1:$1/health") == *'"health":"true"'* ]]; }

apiserver_ready() {
    [ "$(curl -fsS --cacert "$1/certs/apiserver.crt" -H "Authorization: Bearer $2" \
        "https://127.0.0.1:$3/readyz")" = ok ]
}


api_get() { # api_get DIR TOKEN PORT PATH
    curl --http1.1 -fsS --cacert "$1/certs/apiserver.crt" -H "Authorization: Bearer $2" "https://127.0.0.1:$3$4"
}

# The node has registered, is Ready, and the node lifecycle controller has lifted the not-ready
# taints, so the scheduler will place pods on it.
node_schedulable() {
    api_get "$1" "$2" "$3" "/api/v1/nodes/$NODE_NAME" | python3 -c '
import json, sys
node = json.load(sys.stdin)
ready = any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))
taints = [t["key"] for t in node["spec"].get("taints") or [] if t["key"].startswith("node.kubernetes.io/")]
sys.exit(0 if ready and not taints and not node["spec"].get("unschedulable") else 1)'
}

# The token controller has given `default/default` its token Secret: from then on the
# ServiceAccount admission plugin admits pods (in namespaces whose account also exists).
default_account_ready() {
    api_get "$1" "$2" "$3" /api/v1/namespaces/default/serviceaccounts/default | python3 -c '
import json, sys
sys.exit(0 if json.load(sys.stdin).get("secrets") else 1)'
}

# A CA whose client certificate kube-apiserver presents to the kubelet (logs, exec): the kubelet
# accepts only certificates from it (no anonymous access, even on loopback).
make_kubelet_client_certs() {
    local certs=$1
    mkdir -p "$certs"
    openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj /CN=asp-kubelet-client-ca \
        -keyout "$certs/kubelet-ca.key" -out "$certs/kubelet-ca.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" \
        -keyout "$certs/kubelet-client.key" -out "$certs/kubelet-client.csr" 2>/dev/null
    openssl x509 -req -days 7 -in "$certs/kubelet-client.csr" -CA "$certs/kubelet-ca.crt" \
        -CAkey "$certs/kubelet-ca.key" -CAcreateserial -out "$certs/kubelet-client.crt" \
        -extfile <(printf 'extendedKeyUsage=clientAuth\n') 2>/dev/null
    rm -f "$certs/kubelet-client.csr" "$certs/kubelet-ca.key"
    chmod 600 "$certs"/*.key
}

do_start() {
    local with_node=1
    if [ "${1:-}" = --no-node ]; then
        with_node=0
        shift
    fi
    local dir=${1:?usage: start [--no-node] DIR [PORT]} port=${2:-}
    [[ -z $port || $port =~ ^[0-9]+$ ]] || die "PORT must be a number, got: $port"
    local bin
    bin=$(cached_bin_dir) || die "kubernetes is not built; run: $0 build"
    command -v etcd >/dev/null || die "etcd not installed; run: $0 build"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    local name
    for name in "${PROCESSES[@]}"; do
        pid_alive "$dir/$name.pid" && die "$name already running for $dir (pid $(cat "$dir/$name.pid"))"
    done
    touch "$dir/$MARKER" # stop removes only directories that carry it

    # On any failure below, take down whatever did start.
    START_OK=0 START_DIR=$dir
    trap 'if [ "$START_OK" = 0 ]; then log "start failed; stopping what started"; ASP_KUBE_KEEP_LOGS=1 do_stop "$START_DIR" || true; fi' EXIT
    if [ -n "${ASP_KUBE_OWNER_PID:-}" ]; then start_watchdog "$dir" "$ASP_KUBE_OWNER_PID"; fi

    local etcd_client etcd_peer kubelet_port
    free_port etcd_client
    free_port etcd_peer
    free_port kubelet_port
    [ -n "$port" ] || free_port port
    port_in_use "$port" && die "port $port is already in use"

    # Static bearer tokens: an admin in system:masters and three ordinary users for RBAC tests.
    local admin_token user
    admin_token=$(random_token)
    {
        printf '%s,admin,admin,"system:masters"\n' "$admin_token"
        for user in alice bob carol; do printf '%s,%s,%s\n' "$(random_token)" "$user" "$user"; done
    } >"$dir/tokens.csv"
    chmod 600 "$dir/tokens.csv"

    # Service account signing key (required flags since 1.20; the token controller signs with it).
    [ -f "$dir/sa.key" ] || openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
    mkdir -p "$dir/certs"
    make_kubelet_client_certs "$dir/certs"

    log "starting etcd on 127.0.0.1:$etcd_client"
    spawn etcd "$dir" etcd \
        --name=asp \
        --data-dir="$dir/etcd-data" \
        --listen-client-urls="http://127.0.0.1:$etcd_client" \
        --advertise-client-urls="http://127.0.0.1:$etcd_client" \
        --listen-peer-urls="http://127.0.0.1:$etcd_peer" \
        --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer" \
        --initial-cluster="asp=http://127.0.0.1:$etcd_peer" \
        --unsafe-no-fsync \
        --logger=zap --log-level=warn
    wait_until etcd 30 "$dir/etcd.pid" "$dir/etcd.log" etcd_healthy "$etcd_client"

    # The API server dials the kubelet at the node's InternalIP (see kubelet's --node-ip): a node
    # name that does not resolve would break logs and exec.
    log "starting kube-apiserver on https://127.0.0.1:$port"
    spawn kube-apiserver "$dir" "$bin/kube-apiserver" \
        --etcd-servers="http://127.0.0.1:$etcd_client" \
        --bind-address=127.0.0.1 \
        --advertise-address=127.0.0.1 \
        --secure-port="$port" \
        --insecure-port=0 \
        --cert-dir="$dir/certs" \
        --token-auth-file="$dir/tokens.csv" \
        --authorization-mode=RBAC \
        --service-account-key-file="$dir/sa.key" \
        --service-account-signing-key-file="$dir/sa.key" \
        --service-account-issuer=https://kubernetes.default.svc.cluster.local \
        --service-cluster-ip-range=10.0.0.0/24 \
        --kubelet-client-certificate="$dir/certs/kubelet-client.crt" \
        --kubelet-client-key="$dir/certs/kubelet-client.key" \
        --kubelet-preferred-address-types=InternalIP \
        --profiling=false
    wait_until kube-apiserver 120 "$dir/kube-apiserver.pid" "$dir/kube-apiserver.log" \
        apiserver_ready "$dir" "$admin_token" "$port"

    # Admin kubeconfig; the apiserver's self-signed cert file (leaf + its own CA) is embedded as
    # certificate-authority-data so clients verify TLS instead of skipping verification.
    local ca_data
    ca_data=$(base64 -w0 <"$dir/certs/apiserver.crt")
    cat >"$dir/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: asp-local
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority-data: $ca_data
users:
- name: admin
  user:
    token: $admin_token
contexts:
- name: asp-local
  context:
    cluster: asp-local
    user: admin
current-context: asp-local
KUBECONFIG
    chmod 600 "$dir/kubeconfig"

    # garbagecollector: deletes objects whose ownerReferences point at deleted owners;
    # namespace: finishes namespace deletion (otherwise namespaces stay Terminating);
    # nodelifecycle: lifts the node's not-ready taint once it is Ready;
    # serviceaccount, serviceaccount-token: each namespace's `default` account and its token
    # Secret, which the ServiceAccount admission plugin requires of every pod.
    log "starting kube-controller-manager"
    spawn kube-controller-manager "$dir" "$bin/kube-controller-manager" \
        --kubeconfig="$dir/kubeconfig" \
        --controllers=garbagecollector,namespace,nodelifecycle,serviceaccount,serviceaccount-token \
        --service-account-private-key-file="$dir/sa.key" \
        --root-ca-file="$dir/certs/apiserver.crt" \
        --use-service-account-credentials=false \
        --leader-elect=false \
        --port=0 \
        --secure-port=0 \
        --profiling=false
    wait_until "service account controllers" 60 "$dir/kube-controller-manager.pid" \
        "$dir/kube-controller-manager.log" default_account_ready "$dir" "$admin_token" "$port"

    local pause_image="" job_image="" docker_host="" docker_bin=""
    if [ "$with_node" = 1 ]; then
        start_node "$dir" "$bin" "$admin_token" "$port" "$kubelet_port"
        # shellcheck disable=SC1091
        . "$dir/images.env"
        # shellcheck disable=SC1091
        . "$dir/docker/docker.env"
        # shellcheck disable=SC2153 # set by the two env files just sourced
        pause_image=$PAUSE_IMAGE job_image=$JOB_IMAGE docker_host=$DOCKER_HOST docker_bin=$DOCKER
    fi

    cat >"$dir/cluster.env" <<ENV
SERVER=https://127.0.0.1:$port
CA_FILE=$dir/certs/apiserver.crt
KUBECONFIG=$dir/kubeconfig
TOKENS_FILE=$dir/tokens.csv
ETCD_SERVER=http://127.0.0.1:$etcd_client
BIN_DIR=$bin
NODE_NAME=$([ "$with_node" = 1 ] && printf '%s' "$NODE_NAME")
PAUSE_IMAGE=$pause_image
JOB_IMAGE=$job_image
DOCKER_HOST=$docker_host
DOCKER=$docker_bin
ENV

    rm -f "$dir/start.pid" # started: nothing for the watchdog to interrupt any more
    START_OK=1
    log "cluster up: https://127.0.0.1:$port (kubeconfig: $dir/kubeconfig)"
}

# start_watchdog DIR OWNER_PID: run `watch` for DIR in its own session (a signal sent to the
# owner's process group must not reach it), before any process of the node starts: an owner
# killed half way through `start` leaves nothing behind either, because the watchdog's stop kills
# the unfinished `start` (DIR/start.pid) and everything it started. The owner is named by pid and
# start time, so a later process that reuses the pid does not keep the node alive.
start_watchdog() {
    local dir=$1 owner=$2 since
    [[ $owner =~ ^[0-9]+$ ]] || die "ASP_KUBE_OWNER_PID must be a process id, got: $owner"
    since=$(proc_starttime "$owner") || die "owner process $owner (ASP_KUBE_OWNER_PID) is not running"
    record_self "$dir/start.pid"
    # In a subshell that exits at once: the watchdog is no child of this `start`.
    (spawn watchdog "$dir" bash "$SCRIPTS_DIR/kube-node.sh" watch "$owner" "$since" "$dir")
}

# do_watch OWNER_PID STARTTIME DIR: wait until the owner is gone (or DIR was removed behind our
# back), then stop DIR's node. A `stop` ends the watchdog last (SIGKILL; it holds no state).
do_watch() {
    local owner=${1:?usage: watch PID STARTTIME DIR} since=${2:?usage: watch PID STARTTIME DIR}
    local dir=${3:?usage: watch PID STARTTIME DIR}
    while process_running "$owner" "$since" && [ -f "$dir/$MARKER" ]; do sleep "$WATCH_INTERVAL"; done
    # A stop under way (the owner's own teardown) finishes the job, unless it is killed too.
    local pid="" pid_since=""
    { read -r pid pid_since <"$dir/stop.pid"; } 2>/dev/null || true
    if [ -n "$pid" ]; then
        while process_running "$pid" "$pid_since" && [ -d "$dir" ]; do sleep "$WATCH_INTERVAL"; done
    fi
    rm -f "$dir/watchdog.pid"
    log "owner $owner is gone (or $dir was removed); stopping $dir"
    do_stop "$dir"
}

# start_node DIR BIN ADMIN_TOKEN PORT KUBELET_PORT: the Docker engine, images, scheduler, kubelet.
start_node() {
    local dir=$1 bin=$2 admin_token=$3 port=$4 kubelet_port=$5
    log "starting the Docker engine"
    "$SCRIPTS_DIR/docker-engine.sh" start "$dir/docker" >&2
    # shellcheck disable=SC1091
    . "$dir/docker/docker.env"
    "$SCRIPTS_DIR/node-images.sh" "$dir/docker/docker.env" >"$dir/images.env"
    # shellcheck disable=SC1091
    . "$dir/images.env"

    log "starting kube-scheduler"
    spawn kube-scheduler "$dir" "$bin/kube-scheduler" \
        --kubeconfig="$dir/kubeconfig" \
        --leader-elect=false \
        --port=0 \
        --secure-port=0 \
        --profiling=false

    # Flags that let kubelet 1.20 run in a VM whose processes lack CAP_SYS_RESOURCE, without
    # touching the host: no QoS cgroups, no node-allocatable enforcement, no evictions or image
    # GC, no iptables chains, its own dirs, sockets and ports. Its node IP (which the API server
    # dials for logs) and the only address it listens on is the engine's private bridge address:
    # kubelet 1.20 refuses a loopback node IP. The API server's client certificate is the only
    # accepted caller.
    # Pod and container logs live in the node's dir, not in /var/log: a kubelet's container GC
    # deletes every pod log dir it does not know, so two nodes sharing /var/log/pods (the test
    # session's and the quickstart stack's) would delete each other's logs (kubelet patched, see
    # scripts/patches/kubernetes/kubelet-log-dirs.patch).
    mkdir -p "$dir/pod-logs" "$dir/container-logs"
    log "starting kubelet (node $NODE_NAME, port $kubelet_port)"
    KUBELET_POD_LOGS_DIR="$dir/pod-logs" KUBELET_CONTAINER_LOGS_DIR="$dir/container-logs" \
    spawn kubelet "$dir" "$bin/kubelet" \
        --kubeconfig="$dir/kubeconfig" \
        --hostname-override="$NODE_NAME" \
        --node-ip="$DOCKER_BRIDGE_GATEWAY" \
        --address="$DOCKER_BRIDGE_GATEWAY" \
        --port="$kubelet_port" \
        --read-only-port=0 \
        --healthz-port=0 \
        --anonymous-auth=false \
        --client-ca-file="$dir/certs/kubelet-ca.crt" \
        --authorization-mode=AlwaysAllow \
        --root-dir="$dir/kubelet" \
        --cert-dir="$dir/kubelet-pki" \
        --volume-plugin-dir="$dir/kubelet-plugins" \
        --container-runtime=docker \
        --docker-endpoint="$DOCKER_HOST" \
        --experimental-dockershim-root-directory="$dir/dockershim" \
        --container-runtime-endpoint="unix://$dir/dockershim.sock" \
        --image-service-endpoint="unix://$dir/dockershim.sock" \
        --pod-infra-container-image="$PAUSE_IMAGE" \
        --fail-swap-on=false \
        --cgroups-per-qos=false \
        --enforce-node-allocatable= \
        --cgroup-driver=cgroupfs \
        --eviction-hard= \
        --image-gc-high-threshold=100 \
        --image-gc-low-threshold=99 \
        --make-iptables-util-chains=false \
        --oom-score-adj=0 \
        --register-node=true \
        --v=1
    wait_until "node $NODE_NAME" 120 "$dir/kubelet.pid" "$dir/kubelet.log" \
        node_schedulable "$dir" "$admin_token" "$port"
    pid_alive "$dir/kube-scheduler.pid" || {
        tail -n 30 "$dir/kube-scheduler.log" >&2 || true
        die "kube-scheduler exited during startup"
    }
}

# wait_gone PID TENTHS: wait up to TENTHS/10 seconds for PID to exit (a zombie has exited);
# fails if it is still there.
wait_gone() {
    local _
    for _ in $(seq 1 "$2"); do
        process_running "$1" || return 0
        sleep 0.1
    done
    ! process_running "$1"
}

stop_process() {
    local dir=$1 name=$2 pid pidfile="$1/$2.pid"
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if [ -n "$pid" ] && process_running "$pid"; then
        log "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_gone "$pid" 100; then
            log "$name did not exit after SIGTERM; SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$pid" 50 || true
        fi
    fi
    rm -f "$pidfile"
}

# Every mount point under DIR, deepest first (kubelet's secret tmpfs mounts, its bind mount of
# its own root dir, dockerd's overlay and nsfs mounts).
mounts_under() {
    local dir=$1
    findmnt -rn -o TARGET | awk -v d="$dir/" 'index($0, d) == 1' | awk '{ print length($0) " " $0 }' |
        sort -rn | cut -d' ' -f2-
}

unmount_all_under() {
    local dir=$1 target _
    for _ in 1 2 3 4 5; do
        [ -n "$(mounts_under "$dir")" ] || return 0
        while read -r target; do
            [ -n "$target" ] || continue
            umount "$target" 2>/dev/null || umount -l "$target" 2>/dev/null || true
        done < <(mounts_under "$dir")
        sleep 0.2
    done
    [ -z "$(mounts_under "$dir")" ] || log "WARNING: still mounted under $dir: $(mounts_under "$dir" | tr '\n' ' ')"
}

# Processes whose command line names a path inside DIR: etcd's data dir, the API server's certs,
# the kubeconfig of the controllers and kubelet, dockerd's config. (grep's own command line
# matches too; it has exited by the time the caller looks.)
processes_under() {
    grep -laF -- "$1/" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3 || true
}

# stop_leftovers DIR: end what the pid files did not name (a pid file lost with a removed DIR, a
# process spawned just before its start was killed).
stop_leftovers() {
    local dir=$1 pid
    for pid in $(processes_under "$dir"); do
        if [ "$pid" = $$ ] || [ "$pid" = "$BASHPID" ] || ! process_running "$pid"; then continue; fi
        log "stopping leftover process $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-100)"
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_gone "$pid" 100; then
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$pid" 50 || true
        fi
    done
}

do_stop() {
    local dir=${1:?usage: stop DIR} name
    if [ ! -d "$dir" ]; then
        # Removed behind our back (its processes may still run): find them by their arguments.
        case $dir in /*) stop_leftovers "${dir%/}" ;; esac
        return 0
    fi
    dir=$(cd "$dir" && pwd)
    # The watchdog stays until the very end: if this stop is killed half way (say, with the
    # process group of the test run that called it), the watchdog finishes it once the owner is
    # gone (it waits for the stop DIR/stop.pid names first).
    local watchdog="" watchdog_since=""
    if pid_alive "$dir/watchdog.pid"; then
        watchdog=$(cat "$dir/watchdog.pid")
        watchdog_since=$(proc_starttime "$watchdog") || watchdog=""
        [ "$watchdog" != $$ ] || watchdog=""
    fi
    record_self "$dir/stop.pid"
    # A `start` still running (its owner was killed half way): end it before it starts more.
    kill_recorded "$dir/start.pid"
    stop_process "$dir" kubelet
    # The engine's stop removes the pods' containers (kubelet is gone, so none come back),
    # stops dockerd, unmounts its mounts and removes its directory.
    if [ -d "$dir/docker" ]; then
        "$SCRIPTS_DIR/docker-engine.sh" stop "$dir/docker" >&2 || log "WARNING: docker-engine.sh stop failed"
    fi
    # The control plane has nothing left to hand over: stop its processes together.
    for name in kube-scheduler kube-controller-manager kube-apiserver etcd; do
        stop_process "$dir" "$name" &
    done
    wait
    for name in "${PROCESSES[@]}"; do [ "$name" = watchdog ] || stop_process "$dir" "$name"; done
    stop_leftovers "$dir"
    unmount_all_under "$dir"
    if [ -f "$dir/$MARKER" ]; then
        if [ "${ASP_KUBE_KEEP_LOGS:-0}" = 1 ]; then
            find "$dir" -mindepth 1 -maxdepth 1 ! -name '*.log' -exec rm -rf --one-file-system {} +
            log "kept logs in $dir"
        else
            rm -rf --one-file-system "$dir"
        fi
    fi
    rm -f "$dir/stop.pid" "$dir/watchdog.pid" 2>/dev/null || true
    # The watchdog is our own polling loop and holds no state: SIGKILL it.
    if [ -n "$watchdog" ] && process_running "$watchdog" "$watchdog_since"; then kill -KILL "$watchdog" 2>/dev/null || true; fi
}

main() {
    local cmd=${1:-}
    shift || true
    case $cmd in
    build) do_build "$@" ;;
    path) do_path "$@" ;;
    start) do_start "$@" ;;
    stop) do_stop "$@" ;;
    watch) do_watch "$@" ;;
    *)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
        exit 2
        ;;
    esac
}

main "$@"
