#!/usr/bin/env bash
# Build the modelmesh image with docker or podman, with no registry: `make image`.
#
#   1. base: a Debian bookworm rootfs made by debootstrap, imported as modelmesh-base:bookworm
#      (skipped when the engine already has it; needs root and debootstrap);
#   2. context: build/image/wheels/ with the project's wheel and all its dependencies,
#      built by the host's Python 3.11 (bookworm's python3 is 3.11 too);
#   3. image: hack/image/Containerfile, tagged modelmesh:<version> (and IMAGE if given).
#
# ENGINE=docker|podman picks the engine (default: the first one that answers); BASE_IMAGE
# names another base; IMAGE names the result (default modelmesh:<version from pyproject>);
# REF=<git ref> builds that commit (git archive) instead of the work tree.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CONTEXT="$ROOT/build/image"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
BASE_IMAGE="${BASE_IMAGE:-modelmesh-base:bookworm}"
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/pyproject.toml" | head -n1)"
IMAGE="${IMAGE:-modelmesh:$VERSION}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

engine() {
    if [[ -n "${ENGINE:-}" ]]; then echo "$ENGINE"; return; fi
    for candidate in docker podman; do
        if command -v "$candidate" >/dev/null && "$candidate" info >/dev/null 2>&1; then
            echo "$candidate"
            return
        fi
    done
    echo "no container engine answers: start dockerd, or install podman (TOOLCHAIN.md §5)" >&2
    exit 1
}
ENGINE="$(engine)"
# Podman on this project's machines needs runc and cgroupfs (crun fails without
# CAP_SYS_RESOURCE); ENGINE_GLOBAL_ARGS replaces that default (empty: no flags).
if [[ -n "${ENGINE_GLOBAL_ARGS+set}" ]]; then
    read -r -a ENGINE_ARGS <<< "$ENGINE_GLOBAL_ARGS"
elif [[ "$ENGINE" == podman ]]; then
    ENGINE_ARGS=(--runtime runc --cgroup-manager cgroupfs)
else
    ENGINE_ARGS=()
fi

SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT

if ! "$ENGINE" "${ENGINE_ARGS[@]}" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    rootfs="$SCRATCH/rootfs"
    echo "base: debootstrap bookworm into $rootfs" >&2
    debootstrap --variant=minbase --include=python3,python3-venv,libgomp1,ca-certificates \
        bookworm "$rootfs" "$MIRROR" >&2
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | "$ENGINE" "${ENGINE_ARGS[@]}" import - "$BASE_IMAGE" >&2
fi

# a copy of the sources, so that setuptools' build/ folder never lands in (or is reused
# from) the work tree: the files git tracks or would track, or the commit REF names
SOURCE="$SCRATCH/source"
mkdir -p "$SOURCE"
if [[ -n "${REF:-}" ]]; then
    git -C "$ROOT" archive "$REF" | tar -x -C "$SOURCE"
else
    git -C "$ROOT" ls-files -z --cached --others --exclude-standard \
        | tar -C "$ROOT" --null --ignore-failed-read -T - -c | tar -x -C "$SOURCE"
fi
echo "context: wheels of ${REF:-the work tree} into $CONTEXT/wheels" >&2
rm -rf "$CONTEXT"
mkdir -p "$CONTEXT/wheels"
"$PYTHON" -m pip wheel --quiet --wheel-dir "$CONTEXT/wheels" "$SOURCE"

echo "image: $IMAGE with $ENGINE" >&2
"$ENGINE" "${ENGINE_ARGS[@]}" build --build-arg "BASE=$BASE_IMAGE" \
    -f "$ROOT/hack/image/Containerfile" -t "$IMAGE" "$CONTEXT"
echo "$IMAGE"
