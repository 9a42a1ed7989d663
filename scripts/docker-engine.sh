#!/usr/bin/env bash
# A private Docker engine (Debian's docker.io) for the local Kubernetes node and the compose tests.
#
# Why this exists: the machines that run our tests have Debian's `dockerd` but no engine running,
# and several engines may run at once (a test session's node, a compose test, a developer's
# quickstart). Each engine gets its own data root, exec root, socket, bridge and address pool
# under DIR, so none collides with another or with a system-wide Docker, and `stop` removes
# everything it made: containers, processes, mounts, the bridge and DIR itself.
#
# Usage:
#   scripts/docker-engine.sh start DIR   start dockerd; writes DIR/docker.env (DOCKER_HOST, DOCKER)
#   scripts/docker-engine.sh stop DIR    remove its containers, stop it, unmount, delete DIR
#   scripts/docker-engine.sh install     install docker.io from apt if dockerd is missing
#   scripts/docker-engine.sh watch PID STARTTIME DIR   (internal) the watchdog `start` runs
#
# Environment:
#   ASP_DOCKER_OWNER_PID  (start) stop the engine automatically once this process has exited (or
#                         been killed, even while `start` is still running). The watchdog checks
#                         once a second: gone, a zombie, or its pid reused all count as gone.
#
# Local-machine adaptation (see /work/shared/notes/real-pods.md): processes here lack
# CAP_SYS_RESOURCE, so runc cannot lower a container's oom_score_adj, and kubelet asks for -998 on
# every pod sandbox. The engine's default runtime is a wrapper that raises a negative
# `oomScoreAdj` in the OCI bundle to 0 and then runs the real runc with the same arguments. Nothing
# else about containers changes.
#
# Networking: no iptables rules are written (`--iptables=false`); published ports use Docker's
# userland proxy on the host, containers on one bridge reach each other, and nothing is routed
# anywhere else.
set -euo pipefail

readonly DOCKER_CLIENT=/usr/bin/docker # docker.io's client; another may come first on PATH
readonly DOCKERD=/usr/sbin/dockerd
readonly SLOT_LOCK=/tmp/asp-docker-engine-slots.lock
SCRIPT_PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
readonly SCRIPT_PATH

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

do_install() {
    local missing=()
    [ -x "$DOCKERD" ] && [ -x "$DOCKER_CLIENT" ] || missing+=(docker.io)
    command -v ip >/dev/null 2>&1 || missing+=(iproute2)
    [ ${#missing[@]} -gt 0 ] || return 0
    apt_install "${missing[@]}"
}

pid_alive() { [ -n "${1:-}" ] && process_running "$1"; }

# wait_gone PID TENTHS: wait up to TENTHS/10 s for PID to exit; fails if it is still there.
wait_gone() {
    local _
    for _ in $(seq 1 "$2"); do
        pid_alive "$1" || return 0
        sleep 0.1
    done
    ! pid_alive "$1"
}

terminate() {
    local pid=$1 what=$2
    pid_alive "$pid" || return 0
    log "stopping $what (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 150; then
        log "$what did not exit after SIGTERM; SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" 50 || true
    fi
}

# Slot N gives bridge address 10.231.N.1/24 and compose networks from 10.232+N... /16 pools.
# A slot is free when no interface holds an address in either range; the choice is made under a
# lock and recorded in DIR/slot so that stop can find the bridge again.
slot_in_use() {
    local n=$1 owner
    ip -4 -o addr show | grep -qE "inet 10\.231\.$n\.|inet 10\.$((232 + n))\." && return 0
    owner=$(cat "/tmp/asp-docker-slot-$n" 2>/dev/null) || return 1
    [ -n "$owner" ] && [ -d "$owner" ]
}

claim_slot() {
    local dir=$1 n
    exec 8>"$SLOT_LOCK"
    flock 8
    for n in $(seq 0 19); do
        if ! slot_in_use "$n"; then
            printf '%s\n' "$dir" >"/tmp/asp-docker-slot-$n"
            printf '%s\n' "$n" >"$dir/slot"
            flock -u 8
            return 0
        fi
    done
    flock -u 8
    die "no free network slot (20 engines running?)"
}

write_runtime_wrapper() {
    local path=$1
    cat >"$path" <<'EOF'
#!/bin/sh
# runc wrapper (local-machine adaptation): this machine's processes cannot lower oom_score_adj,
# so a negative oomScoreAdj in the OCI bundle is raised to 0 before the real runc sees it.
bundle=""
prev=""
for arg in "$@"; do
    case $prev in --bundle | -b) bundle=$arg ;; esac
    case $arg in --bundle=*) bundle=${arg#--bundle=} ;; esac
    prev=$arg
done
if [ -n "$bundle" ] && [ -f "$bundle/config.json" ]; then
    sed -i -E 's/"oomScoreAdj":[[:space:]]*-[0-9]+/"oomScoreAdj":0/' "$bundle/config.json"
fi
exec /usr/sbin/runc "$@"
EOF
    chmod 755 "$path"
}

# A short exec root per DIR (sockets live there; a deep DIR would push them past 107 bytes).
exec_root_for() {
    local base=/run/asp-docker
    mkdir -p "$base" 2>/dev/null && [ -w "$base" ] || base=/tmp/asp-docker-exec
    mkdir -p "$base"
    printf '%s/%s' "$base" "$(printf '%s' "$1" | sha256sum | cut -c1-12)"
}

# Bounded: a wedged engine must not hang `stop` (the watchdog's stop least of all).
engine_ready() { timeout 20 "$DOCKER_CLIENT" -H "unix://$1/docker.sock" version >/dev/null 2>&1; }

# start_watchdog DIR OWNER_PID: run `watch` for DIR in its own session, before dockerd starts, so
# an owner killed during `start` leaves nothing behind either (see kube-node.sh's twin).
start_watchdog() {
    local dir=$1 owner=$2 since
    [[ $owner =~ ^[0-9]+$ ]] || die "ASP_DOCKER_OWNER_PID must be a process id, got: $owner"
    since=$(proc_starttime "$owner") || die "owner process $owner (ASP_DOCKER_OWNER_PID) is not running"
    record_self "$dir/start.pid"
    # In a subshell that exits at once: the watchdog is no child of this `start`.
    (
        setsid bash "$SCRIPT_PATH" watch "$owner" "$since" "$dir" </dev/null >>"$dir/watchdog.log" 2>&1 &
        printf '%s\n' "$!" >"$dir/watchdog.pid"
    )
}

# do_watch OWNER_PID STARTTIME DIR: once the owner is gone, stop the engine in DIR. A `stop` ends
# the watchdog last (SIGKILL; it holds no state).
do_watch() {
    local owner=${1:?usage: watch PID STARTTIME DIR} since=${2:?usage: watch PID STARTTIME DIR}
    local dir=${3:?usage: watch PID STARTTIME DIR}
    while process_running "$owner" "$since" && [ -d "$dir" ]; do sleep 1; done
    # A stop under way (the owner's own teardown) finishes the job, unless it is killed too.
    local pid="" pid_since=""
    { read -r pid pid_since <"$dir/stop.pid"; } 2>/dev/null || true
    if [ -n "$pid" ]; then
        while process_running "$pid" "$pid_since" && [ -d "$dir" ]; do sleep 1; done
    fi
    rm -f "$dir/watchdog.pid"
    log "owner $owner is gone; stopping the engine in $dir"
    do_stop "$dir"
}

do_start() {
    local dir=${1:?usage: start DIR}
    do_install
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    # A unix socket path is limited to 107 bytes: DIR/docker.sock must fit. The exec root (where
    # containerd puts containerd.sock.ttrpc, 38 bytes deeper) lives at a short path of its own.
    [ ${#dir} -le 90 ] || die "DIR path too long for a unix socket (${#dir} > 90 chars): $dir"
    if [ -f "$dir/dockerd.pid" ] && pid_alive "$(cat "$dir/dockerd.pid")"; then
        die "an engine is already running for $dir (pid $(cat "$dir/dockerd.pid"))"
    fi
    START_OK=0 START_DIR=$dir
    trap 'if [ "$START_OK" = 0 ]; then log "start failed; stopping what started"; do_stop "$START_DIR" keep || true; fi' EXIT
    if [ -n "${ASP_DOCKER_OWNER_PID:-}" ]; then start_watchdog "$dir" "$ASP_DOCKER_OWNER_PID"; fi

    claim_slot "$dir"
    local slot bridge
    slot=$(cat "$dir/slot")
    bridge="aspd$(printf '%s' "$dir" | sha256sum | cut -c1-8)"
    printf '%s\n' "$bridge" >"$dir/bridge"
    ip link show "$bridge" >/dev/null 2>&1 || ip link add name "$bridge" type bridge
    ip addr flush dev "$bridge"
    ip addr add "10.231.$slot.1/24" dev "$bridge"
    ip link set "$bridge" up

    local exec_root
    exec_root=$(exec_root_for "$dir")
    printf '%s\n' "$exec_root" >"$dir/exec-root"
    mkdir -p "$dir/data" "$exec_root"
    write_runtime_wrapper "$dir/runc-wrapper"
    cat >"$dir/daemon.json" <<EOF
{
  "data-root": "$dir/data",
  "exec-root": "$exec_root",
  "pidfile": "$dir/dockerd.pid",
  "hosts": ["unix://$dir/docker.sock"],
  "bridge": "$bridge",
  "iptables": false,
  "ip-masq": false,
  "ip-forward": false,
  "storage-driver": "overlay2",
  "default-address-pools": [{"base": "10.$((232 + slot)).0.0/16", "size": 24}],
  "runtimes": {"asp-runc": {"path": "$dir/runc-wrapper"}},
  "default-runtime": "asp-runc",
  "log-driver": "json-file",
  "features": {"buildkit": false}
}
EOF
    log "starting dockerd (socket unix://$dir/docker.sock, bridge $bridge 10.231.$slot.1/24)"
    # Its own session, so a Ctrl-C aimed at a test run does not tear it down out of order.
    setsid "$DOCKERD" --config-file "$dir/daemon.json" </dev/null >>"$dir/dockerd.log" 2>&1 &
    local deadline=$((SECONDS + 60))
    until engine_ready "$dir"; do
        if [ -f "$dir/dockerd.pid" ] && ! pid_alive "$(cat "$dir/dockerd.pid")"; then
            tail -n 30 "$dir/dockerd.log" >&2 || true
            die "dockerd exited during startup (log: $dir/dockerd.log)"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 30 "$dir/dockerd.log" >&2 || true
            die "dockerd not ready after 60 s (log: $dir/dockerd.log)"
        fi
        sleep 0.3
    done
    cat >"$dir/docker.env" <<EOF
DOCKER_HOST=unix://$dir/docker.sock
DOCKER=$DOCKER_CLIENT
DOCKER_BRIDGE=$bridge
DOCKER_BRIDGE_GATEWAY=10.231.$slot.1
EOF
    rm -f "$dir/start.pid" # started: nothing for the watchdog to interrupt any more
    START_OK=1
    log "engine up: DOCKER_HOST=unix://$dir/docker.sock (env file: $dir/docker.env)"
}

# Mount points at or below DIR, deepest first (mountinfo escapes spaces as \040).
mounts_under() {
    awk -v d="$1" '{ p = $5; gsub(/\\040/, " ", p); if (p == d || index(p, d "/") == 1) print p }' \
        /proc/self/mountinfo | awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2-
}

# Processes whose command line or working directory mentions DIR (containerd, shims, proxies).
processes_under() {
    local p cmd
    for p in /proc/[0-9]*; do
        cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
        case $cmd in *"$1/"* | *"$1 "*) printf '%s\n' "${p#/proc/}" ;; esac
    done
}

do_stop() {
    local dir=${1:?usage: stop DIR} keep=${2:-}
    [ -d "$dir" ] || return 0
    dir=$(cd "$dir" && pwd)
    local sock="unix://$dir/docker.sock" pid
    # The watchdog stays until the very end: if this stop is killed half way, it finishes the job
    # once the owner is gone (it waits for the stop DIR/stop.pid names first).
    local watchdog="" watchdog_since=""
    if [ -f "$dir/watchdog.pid" ]; then
        watchdog=$(cat "$dir/watchdog.pid")
        if [ -z "$watchdog" ] || [ "$watchdog" = $$ ] || ! watchdog_since=$(proc_starttime "$watchdog"); then watchdog=""; fi
    fi
    record_self "$dir/stop.pid"
    # A `start` still running (its owner was killed half way), with whatever it started.
    kill_recorded "$dir/start.pid"
    if engine_ready "$dir"; then
        # dockerd leaves running containers to their shims when it exits: remove them first.
        local ids
        ids=$(timeout 20 "$DOCKER_CLIENT" -H "$sock" ps -aq 2>/dev/null || true)
        if [ -n "$ids" ]; then
            log "removing $(wc -w <<<"$ids") container(s)"
            # shellcheck disable=SC2086
            timeout 120 "$DOCKER_CLIENT" -H "$sock" rm -f -v $ids >/dev/null 2>&1 || true
        fi
        timeout 20 "$DOCKER_CLIENT" -H "$sock" network prune -f >/dev/null 2>&1 || true
    fi
    [ -f "$dir/dockerd.pid" ] && terminate "$(cat "$dir/dockerd.pid")" dockerd
    # Whatever is left (a shim of a container dockerd could not remove, a managed containerd).
    local exec_root="" root
    [ -f "$dir/exec-root" ] && exec_root=$(cat "$dir/exec-root")
    for root in "$dir" ${exec_root:+"$exec_root"}; do
        for pid in $(processes_under "$root"); do
            [ "$pid" = $$ ] || [ "$pid" = "$watchdog" ] || terminate "$pid" "leftover process"
        done
    done
    local m
    for root in "$dir" ${exec_root:+"$exec_root"}; do
        while read -r m; do
            [ -n "$m" ] || continue
            umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
        done < <(mounts_under "$root")
    done
    if [ -n "$exec_root" ] && [ -d "$exec_root" ]; then
        [ -z "$(mounts_under "$exec_root")" ] || die "mounts remain under $exec_root"
        rm -rf "$exec_root"
    fi
    if [ -f "$dir/bridge" ]; then
        ip link del "$(cat "$dir/bridge")" 2>/dev/null || true
    fi
    if [ -f "$dir/slot" ]; then
        rm -f "/tmp/asp-docker-slot-$(cat "$dir/slot")"
    fi
    if [ -z "$keep" ]; then
        [ -z "$(mounts_under "$dir")" ] || die "mounts remain under $dir: $(mounts_under "$dir" | tr '\n' ' ')"
        rm -rf "$dir"
        log "engine stopped and $dir removed"
    fi
    rm -f "$dir/stop.pid" "$dir/watchdog.pid" 2>/dev/null || true
    # The watchdog is our own polling loop and holds no state: SIGKILL it.
    if [ -n "$watchdog" ] && process_running "$watchdog" "$watchdog_since"; then kill -KILL "$watchdog" 2>/dev/null || true; fi
}

main() {
    local cmd=${1:-}
    shift || true
    case $cmd in
    start) do_start "$@" ;;
    stop) do_stop "$1" ;;
    watch) do_watch "$@" ;;
    install) do_install ;;
    *)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
        exit 2
        ;;
    esac
}

main "$@"
