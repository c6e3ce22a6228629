# Sourced by docker/build and docker/run: the container engine and the image names.
# shellcheck shell=bash disable=SC2034,SC2154  # names for the scripts that source this (prog: theirs)

# The repository root and the image names: onebit:<version of pyproject.toml> and onebit:latest.
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/pyproject.toml")"
image="${ONEBIT_IMAGE:-onebit:latest}"

die() { printf '%s: %s\n' "$prog" "$*" >&2; exit "${rc:-1}"; }
say() { printf '[%s] %s\n' "$prog" "$*" >&2; }

# Sets engine to a container engine that answers (podman preferred): ONEBIT_ENGINE if set,
# else podman, else docker. A docker client without a daemon does not count.
pick_engine() {
    local cands=(podman docker) e
    if [ -n "${ONEBIT_ENGINE:-}" ]; then
        case "$ONEBIT_ENGINE" in
            podman | docker) cands=("$ONEBIT_ENGINE") ;;
            *) rc=2 die "ONEBIT_ENGINE must be podman or docker, not '$ONEBIT_ENGINE'" ;;
        esac
    fi
    local found=()
    for e in "${cands[@]}"; do
        command -v "$e" >/dev/null || continue
        found+=("$e")
        if "$e" info >/dev/null 2>&1; then
            engine="$e"
            return 0
        fi
    done
    if [ ${#found[@]} -eq 0 ]; then
        die "no container engine: install podman (apt-get install podman buildah) or docker"
    fi
    die "${found[*]} installed but not working ('${found[0]} info' fails: no daemon, or no permission)"
}

# True when podman runs rootless (the caller is then mapped with --userns=keep-id).
podman_rootless() {
    [ "$("$engine" info --format '{{.Host.Security.Rootless}}' 2>/dev/null)" = true ]
}
