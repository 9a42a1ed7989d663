#!/usr/bin/env bash
# Local images for the single-node Kubernetes: a pod sandbox ("pause") image and a job image
# with Python 3, both imported from the Debian rootfs that scripts/rootfs.sh builds and caches.
#
# Why: no image registry is reachable, so kubelet can pull neither its pause image nor any job
# image. `docker import` of a debootstrap rootfs gives both without a registry; the tags carry
# the rootfs' cache key, so an engine that already holds them skips the import.
#
# Usage: scripts/node-images.sh DOCKER_ENV
#   DOCKER_ENV is the docker.env that scripts/docker-engine.sh writes (DOCKER_HOST, DOCKER).
#   Prints PAUSE_IMAGE=... and JOB_IMAGE=... (shell assignments) on stdout; progress on stderr.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

env_file=${1:?usage: node-images.sh DOCKER_ENV}
# shellcheck disable=SC1090
. "$env_file"
export DOCKER_HOST
scripts_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

readonly ROOTFS_NAME=job ROOTFS_PACKAGES=python3,ca-certificates
tarball=$("$scripts_dir/rootfs.sh" build "$ROOTFS_NAME" "$ROOTFS_PACKAGES")
[ -f "$tarball" ] || { log "ERROR: scripts/rootfs.sh printed no tarball ($tarball)"; exit 1; }
# The rootfs' cache key (a hash of everything that shapes it) is the tag.
tag=$("$scripts_dir/rootfs.sh" key "$ROOTFS_NAME" "$ROOTFS_PACKAGES")
pause_image="asp-local/pause:$tag"
job_image="asp-local/job:$tag"

has_image() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

import() {
    local image=$1
    shift
    if has_image "$image"; then
        log "$image present"
        return 0
    fi
    local t0=$SECONDS
    "$DOCKER" import "$@" "$tarball" "$image" >/dev/null
    log "imported $image in $((SECONDS - t0)) s"
}

# The job image runs whatever the pod's command says; python3 and coreutils (sha256sum) are in it.
import "$job_image" --change 'CMD ["python3"]'
# The sandbox only holds the pod's namespaces; it must exit promptly on SIGTERM (PID 1 ignores
# signals it has no handler for) so that deleting a pod does not wait out a grace period.
# shellcheck disable=SC2016 # $! is for the container's shell
import "$pause_image" --change 'CMD ["/bin/sh", "-c", "trap \"exit 0\" TERM INT; while :; do sleep 3600 & wait $!; done"]'

printf 'PAUSE_IMAGE=%s\nJOB_IMAGE=%s\n' "$pause_image" "$job_image"
