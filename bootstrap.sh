#!/usr/bin/env bash
# onebit bootstrap: sets up everything onebit needs, then runs one job.
#   ./bootstrap.sh demo [ARGS]   train a small BNN on digits, export, build, simulate, report
#   ./bootstrap.sh test [ARGS]   the test suite (pytest ARGS)
#   ./bootstrap.sh setup         only set up (.venv + Debian packages)
#   ./bootstrap.sh deps          only the Debian packages and the pinned Python set in .venv,
#                                not onebit itself (the container image's cached layer)
# Idempotent: a second run only checks what is there.
# ONEBIT_APT_SKIP="pkg ...": Debian packages of the list below not to install (the container
# image skips chromium, needed only by the test that renders the report page).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
venv="$here/.venv"
apt_pkgs=(python3-venv g++ make perl tcl dataset-fashion-mnist graphviz chromium)

log() { printf '[bootstrap] %s\n' "$*" >&2; }

setup_debian() {
    local missing=() skip=" ${ONEBIT_APT_SKIP:-} "
    for p in "${apt_pkgs[@]}"; do
        [[ "$skip" == *" $p "* ]] && continue
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "installing Debian packages: ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        log "missing Debian packages (not root, not installing): ${missing[*]}"
        log "install them with: sudo apt-get install ${missing[*]}"
    fi
}

# Sets py: ONEBIT_PYTHON, else the first of python3.11, python3 that is Python 3.11.
find_python() {
    py="${ONEBIT_PYTHON:-}"
    if [ -z "$py" ]; then
        for cand in python3.11 python3; do
            if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
                py="$cand"; break
            fi
        done
    fi
    [ -n "$py" ] || { log "error: Python 3.11 not found (set ONEBIT_PYTHON)"; exit 2; }
}

setup_venv() {
    find_python
    local stamp="$venv/.onebit-stamp"
    local want
    want="$(cat constraints.txt pyproject.toml | sha256sum | cut -c1-16)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    log "creating $venv (first run: ~2 min)"
    [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
    install_deps
    install_onebit
    echo "$want" > "$stamp"
}

pip_install=(pipq install -q --disable-pip-version-check -c constraints.txt)

# The pinned set of constraints.txt, in the order that resolves it.
install_deps() {
    local pip=("${pip_install[@]}")
    "${pip[@]}" "torch==2.13.0" "setuptools<81" wheel
    # finn-plus pins brevitas==0.13.0, which conflicts with torch 2.13: install both without deps.
    "${pip[@]}" --no-deps finn-plus brevitas
    # finn-plus's runtime dependencies (declared or not), from the pinned set.
    local deps
    mapfile -t deps < <(grep -v -E '^(#|torch==|finn-plus==|brevitas==|$)' constraints.txt | cut -d= -f1)
    "${pip[@]}" "torch==2.13.0" "${deps[@]}"
}

install_onebit() { "${pip_install[@]}" --no-deps --no-build-isolation -e .; }

# pip, without the machine's notes about index locations that do not exist.
pipq() { "$venv/bin/python" -m pip "$@" 2> >(grep -v "is ignored: it is neither" >&2); }

cmd="${1:-demo}"
[ $# -gt 0 ] && shift
setup_debian
if [ "$cmd" = deps ]; then
    find_python
    [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
    install_deps
    log "ready: Debian packages and the pinned Python set in $venv (onebit not installed)"
    exit 0
fi
setup_venv
export PATH="$venv/bin:$PATH"
case "$cmd" in
    setup) log "ready: source .venv/bin/activate" ;;
    demo) exec "$venv/bin/onebit" demo "$@" ;;
    test) exec "$venv/bin/python" -m pytest "$@" ;;
    *) log "unknown command '$cmd' (use demo, test, setup or deps)"; exit 2 ;;
esac
