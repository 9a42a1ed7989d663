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

# apt-get install PKG... without recommends. A fresh machine may have no package lists and a
# long-lived one stale lists, so a failed install is retried once after `apt-get update`; the
# dpkg lock is waited for because several scripts (and tests) may install at the same time.
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    log "installing Debian packages: $*"
    if ! as_root apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "$@"; then
        as_root apt-get -o DPkg::Lock::Timeout=300 update
        as_root apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "$@"
    fi
}
