# Shared helpers for the project's shell scripts; sourced, never run.
# shellcheck shell=bash
#
# Why this exists: every script that installs Debian packages or needs root must behave the same
# way on a developer's machine (sudo) and in CI (root, possibly stale apt lists), and must log in
# one recognisable format. Set LOG_TAG before sourcing to name the calling script in log lines.

log() { printf '[%s %(%H:%M:%S)T] %s\n' "${LOG_TAG:-$(basename "$0")}" -1 "$*" >&2; }

die() {
    log "ERROR: $*"
    exit 1
}

# Run a command as root: directly when we are root, through passwordless sudo otherwise.
as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n env DEBIAN_FRONTEND=noninteractive "$@"
    else
        die "need root (or passwordless sudo) to run: $*"
    fi
}

# apt-get update, its output on stderr (see apt_install).
apt_update() {
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get -o DPkg::Lock::Timeout=300 update >&2
}

# apt-get install PKG... without recommends. A fresh machine may have no package lists and a
# long-lived one stale lists, so a machine without lists updates first and a failed install is
# retried once after `apt-get update`; the dpkg lock is waited for because several scripts (and
# tests) may install at the same time.
#
# Everything apt prints goes to stderr: several scripts (rootfs.sh, kube-node.sh build|path,
# node-images.sh) promise that their stdout is only data (a path, a key, assignments) and their
# callers capture it. Only a fresh machine takes this branch, so tests/test_first_run.py forces it
# with a stand-in apt-get that prints to stdout.
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    log "installing Debian packages: $*"
    if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then apt_update; fi
    if ! as_root apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "$@" >&2; then
        apt_update
        as_root apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "$@" >&2
    fi
}

# --------------------------------------------------------------------------------------------
# Owners and watchdogs: a daemon started for a test run stops once the run is gone, however it
# ended (SIGKILL included, when no cleanup code of the run gets to run).
# --------------------------------------------------------------------------------------------

# proc_field PID N: field N (as numbered in proc(5), N >= 3) of /proc/PID/stat. The command name
# (field 2) may hold spaces and parentheses, so fields are counted after its closing ")".
proc_field() {
    local stat fields
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
    read -r -a fields <<<"${stat##*) }"
    printf '%s' "${fields[$(($2 - 3))]}"
}

# proc_starttime PID: when PID started (clock ticks since boot). A pid paired with it names one
# process, not a later one that reuses the number.
proc_starttime() { proc_field "$1" 22; }

# process_running PID [STARTTIME]: PID runs and, if STARTTIME is given, is that same process.
# A killed process its parent has not reaped yet is a zombie: `kill -0` still succeeds on it,
# but it is gone for our purposes.
process_running() {
    local state
    state=$(proc_field "$1" 3) || return 1
    case $state in Z | X | x) return 1 ;; esac
    [ -z "${2:-}" ] || [ "$(proc_starttime "$1")" = "$2" ]
}

# descendants PID: every process below PID, leaving out this shell and what it runs (a watchdog
# may itself have been started by PID). Read from /proc: minimal systems may lack ps.
descendants() {
    local entry stat fields
    local -A children=()
    for entry in /proc/[0-9]*; do
        { read -r stat <"$entry/stat"; } 2>/dev/null || continue
        read -r -a fields <<<"${stat##*) }"
        children[${fields[1]}]+=" ${entry#/proc/}"
    done
    local queue=("$1") pid child
    while [ ${#queue[@]} -gt 0 ]; do
        pid=${queue[0]}
        queue=("${queue[@]:1}")
        for child in ${children[$pid]:-}; do
            [ "$child" != $$ ] || continue
            printf '%s\n' "$child"
            queue+=("$child")
        done
    done
}

# kill_tree PID: SIGKILL PID and everything it started. PID is frozen first so that it forks
# nothing new while its descendants are listed.
kill_tree() {
    local pid=$1 all
    kill -STOP "$pid" 2>/dev/null || return 0
    all=$(descendants "$pid")
    # shellcheck disable=SC2086 # one pid per word
    kill -KILL "$pid" $all 2>/dev/null || true
}

# record_self FILE: write "PID STARTTIME" of this shell to FILE (see kill_recorded).
record_self() { printf '%s %s\n' "$$" "$(proc_starttime $$)" >"$1"; }

# kill_recorded FILE: kill_tree the process FILE names if it is still that process (and not us);
# remove FILE.
kill_recorded() {
    local pid since
    [ -f "$1" ] || return 0
    read -r pid since <"$1" || true
    if [ -n "$pid" ] && [ "$pid" != $$ ] && process_running "$pid" "$since"; then
        log "killing the unfinished start (pid $pid) and what it started"
        kill_tree "$pid"
    fi
    rm -f "$1"
}
