#!/usr/bin/env bash
# Debian root filesystems for local images, built with debootstrap and cached by their inputs.
#
# Why this exists: no image registry is reachable from the machines that run our tests, so every
# image (the pod sandbox, the job image, Airflow and PostgreSQL for compose) starts from a Debian
# rootfs made here from the machine's own apt sources. A rootfs takes about a minute to make; the
# tarball is cached under the cache root, named by a hash of everything that shapes it (suite,
# mirror, variant, package list, this script's recipe version), so a machine pays once per input.
#
# Usage:
#   scripts/rootfs.sh build NAME [PKG,PKG...]   print the path of NAME's tarball (build if needed)
#   scripts/rootfs.sh key NAME [PKG,PKG...]     print the cache key only
#
# Environment:
#   ASP_KUBE_CACHE    cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/airflow-secrets-provider)
#   ASP_DEBIAN_SUITE  suite (default: this machine's, from /etc/os-release, e.g. bookworm)
#   ASP_DEBIAN_MIRROR mirror URI (default: the first Debian `deb` URI in the apt sources)
#
# Progress goes to stderr; the only stdout is the tarball path (or the key).
set -euo pipefail

readonly RECIPE_VERSION=1 # bump when the recipe below changes what a tarball holds
readonly CACHE_ROOT="${ASP_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/airflow-secrets-provider}"

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_debootstrap() {
    command -v debootstrap >/dev/null 2>&1 && return 0
    apt_install debootstrap
}

suite() {
    if [ -n "${ASP_DEBIAN_SUITE:-}" ]; then
        printf '%s' "$ASP_DEBIAN_SUITE"
    else
        # shellcheck disable=SC1091
        (. /etc/os-release && printf '%s' "${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}")
    fi
}

# The first http(s) URI of a Debian `deb` entry (deb822 .sources or one-line .list files),
# skipping the security archive, which debootstrap cannot bootstrap from.
mirror() {
    if [ -n "${ASP_DEBIAN_MIRROR:-}" ]; then
        printf '%s' "$ASP_DEBIAN_MIRROR"
        return 0
    fi
    local uri
    uri=$(
        {
            for f in /etc/apt/sources.list.d/*.sources; do
                [ -f "$f" ] || continue
                awk 'BEGIN { RS = "" } /(^|\n)Types:[^\n]*(^|[ \t])deb([ \t]|\n|$)/ {
                         if (match($0, /URIs:[ \t]*[^ \t\n]+/)) { u = substr($0, RSTART, RLENGTH); sub(/URIs:[ \t]*/, "", u); print u }
                     }' "$f"
            done
            grep -hE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
                awk '{ for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; break } }'
        } | grep -v -- '-security' | grep -E '^https?://' | head -n1
    )
    [ -n "$uri" ] || die "found no Debian 'deb' apt source to bootstrap from (set ASP_DEBIAN_MIRROR)"
    printf '%s' "$uri"
}

# Sorted, de-duplicated, comma-separated package list.
normalise_packages() { tr ', ' '\n\n' <<<"${1:-}" | sed '/^$/d' | LC_ALL=C sort -u | paste -sd, -; }

cache_key() {
    local name=$1 pkgs=$2
    printf 'recipe=%s\nname=%s\nsuite=%s\nmirror=%s\nvariant=minbase\npackages=%s\narch=%s\n' \
        "$RECIPE_VERSION" "$name" "$(suite)" "$(mirror)" "$pkgs" "$(dpkg --print-architecture)" |
        sha256sum | cut -c1-16
}

do_build() {
    local name=${1:?usage: build NAME [PKG,PKG...]} pkgs
    [[ $name =~ ^[a-z0-9][a-z0-9._-]*$ ]] || die "NAME must be lower-case letters, digits, . _ -"
    pkgs=$(normalise_packages "${2:-}")
    local key dir tarball
    key=$(cache_key "$name" "$pkgs")
    dir="$CACHE_ROOT/rootfs"
    tarball="$dir/$name-$key.tar"
    if [ -s "$tarball" ]; then
        printf '%s\n' "$tarball"
        return 0
    fi
    mkdir -p "$dir"
    exec 9>"$dir/.$name.lock"
    flock 9 # a second caller waits, then finds the tarball
    if [ -s "$tarball" ]; then
        printf '%s\n' "$tarball"
        return 0
    fi
    ensure_debootstrap
    local t0=$SECONDS work
    work=$(mktemp -d "$dir/.build-$name-XXXXXX")
    # shellcheck disable=SC2064 # expand now: the trap must remove this build's own directory
    trap "rm -rf '$work'" EXIT
    log "debootstrap $(suite) ($name: ${pkgs:-minbase only}) from $(mirror)"
    local include=()
    [ -z "$pkgs" ] || include=("--include=$pkgs")
    as_root debootstrap --variant=minbase "${include[@]}" "$(suite)" "$work/root" "$(mirror)" >"$work/debootstrap.log" 2>&1 || {
        tail -n 30 "$work/debootstrap.log" >&2
        die "debootstrap failed for $name"
    }
    # Smaller and reproducible enough: no apt lists or package cache in the image.
    rm -rf "$work/root/var/lib/apt/lists/"* "$work/root/var/cache/apt/"*.bin "$work/root/var/cache/apt/archives/"*.deb
    tar -C "$work/root" --numeric-owner -cf "$work/rootfs.tar" .
    mv -f "$work/rootfs.tar" "$tarball"
    log "built $tarball in $((SECONDS - t0)) s"
    printf '%s\n' "$tarball"
}

main() {
    local cmd=${1:-}
    shift || true
    case $cmd in
    build) do_build "$@" ;;
    key) cache_key "${1:?usage: key NAME [PKGS]}" "$(normalise_packages "${2:-}")" ;;
    *)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
        exit 2
        ;;
    esac
}

main "$@"
