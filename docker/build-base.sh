#!/usr/bin/env bash
# Build a Debian base image from Debian's packages alone, for machines that reach no image
# registry (`docker pull` impossible): mmdebstrap writes a minimal bookworm root filesystem
# with Python 3.11 and venv, and `docker import` turns it into an image.
#   docker/build-base.sh [TAG]        default TAG: ezhd-base:bookworm; kept if it exists
# Environment: EZHD_DEBIAN_MIRROR (default http://deb.debian.org/debian), EZHD_REBUILD_BASE=1
# to rebuild an existing tag, EZHD_BASE_CACHE (default ~/.cache/ezhd): a made image is saved there
# and loaded from there next time (a CI cache directory keeps it between runs).
# Needs root (or fakeroot), mmdebstrap and a running Docker engine.
set -euo pipefail
tag=${1:-ezhd-base:bookworm}
mirror=${EZHD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
if docker image inspect "$tag" >/dev/null 2>&1 && [ "${EZHD_REBUILD_BASE:-0}" != 1 ]; then
    echo "$tag is there already (EZHD_REBUILD_BASE=1 rebuilds it)"
    exit 0
fi
cache=${EZHD_BASE_CACHE:-$HOME/.cache/ezhd}/$(echo "$tag" | tr ':/' '--').tar
if [ -s "$cache" ] && [ "${EZHD_REBUILD_BASE:-0}" != 1 ] && docker load -i "$cache" >/dev/null; then
    echo "$tag loaded from $cache"
    exit 0
fi
command -v mmdebstrap >/dev/null || { echo "mmdebstrap is missing: apt-get install mmdebstrap" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$tmp/rootfs.tar" "$mirror"
docker import --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' "$tmp/rootfs.tar" "$tag" >/dev/null
mkdir -p "$(dirname "$cache")" && docker save -o "$cache" "$tag" || echo "note: could not cache $tag in $cache" >&2
echo "built $tag from Debian bookworm packages"
