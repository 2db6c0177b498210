#!/usr/bin/env bash
# Install the official Azure clients that the example DR clients in examples/clients/ run on, into
# project-local folders, so nobody installs anything by hand and CI gets exactly what a developer gets:
#
#   python  examples/clients/python/.venv   python3 -m venv + pip install -r requirements.txt (~15 s)
#   js      examples/clients/js/node_modules npm ci from the committed package-lock.json      (~10 s)
#   cli     examples/clients/cli/.venv      python3 -m venv + pip install azure-cli          (~1 min, ~700 MB)
#
# Usage: scripts/install-clients.sh [python|js|cli|all]...   (default: all)
#
# Idempotent: each folder records a stamp (the sha256 of the file it was installed from) and is left alone
# while the stamp matches, so a second run takes about a second. A changed requirements file or lockfile
# rebuilds that folder from scratch. Needs only PyPI and the npm registry. Exits non-zero, naming the step,
# on the first failure.
#
# Environment: PYTHON (default python3) is the interpreter the venvs are made from; ARMSIM_FORCE_INSTALL=1
# ignores the stamps.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
clients="$root/examples/clients"
python="${PYTHON:-python3}"

log() { printf 'install-clients: %s\n' "$*" >&2; }
die() {
    log "FAILED: $*"
    exit 1
}

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
}

# Seconds since the epoch with millisecond precision, for the "took" lines.
now() { date +%s.%3N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
size_of() { du -sh "$1" 2>/dev/null | cut -f1; }

stamp_of() { sha256sum "$1" | cut -d' ' -f1; }
is_current() { # folder, stamp-file-name, source-file
    [[ "${ARMSIM_FORCE_INSTALL:-0}" != 1 && -f "$1/$2" && "$(cat "$1/$2")" == "$(stamp_of "$3")" ]]
}

require() {
    command -v "$1" >/dev/null 2>&1 || die "'$1' is not on PATH ($2)"
}

check_python() {
    require "$python" "install Python 3.9 or newer, or set PYTHON"
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 9))' \
        || die "$python is $("$python" --version 2>&1); the Azure SDK and CLI need Python 3.9 or newer"
}

# make_venv DIR: a fresh venv in DIR with a working pip. Debian's own python3 needs the python3-venv package
# for `-m venv` to produce a pip; say so instead of leaving a half-made folder behind.
make_venv() {
    local dir="$1"
    rm -rf "$dir"
    if ! "$python" -m venv "$dir"; then
        rm -rf "$dir"
        die "'$python -m venv $dir' failed (on Debian/Ubuntu: apt-get install python3-venv)"
    fi
    [[ -x "$dir/bin/pip" ]] || die "$dir has no pip (on Debian/Ubuntu: apt-get install python3-venv)"
}

# install_venv NAME DIR REQUIREMENTS: the shared path for the two Python folders.
install_venv() {
    local name="$1" dir="$2" requirements="$3" started
    started="$(now)"
    if is_current "$dir" .armsim-stamp "$requirements"; then
        log "$name: $dir is up to date with ${requirements#"$root"/} (nothing to do)"
        return
    fi
    check_python
    log "$name: creating $dir with $("$python" --version 2>&1)"
    make_venv "$dir"
    log "$name: pip install -r ${requirements#"$root"/}"
    "$dir/bin/pip" install --disable-pip-version-check --no-input --quiet -r "$requirements" \
        || die "$name: pip install -r $requirements"
    stamp_of "$requirements" >"$dir/.armsim-stamp"
    log "$name: installed into ${dir#"$root"/} in $(elapsed "$started"), $(size_of "$dir")"
}

install_python() {
    install_venv python "$clients/python/.venv" "$clients/python/requirements.txt"
    "$clients/python/.venv/bin/python" -c 'import azure.mgmt.apimanagement, azure.identity' \
        || die "python: the venv cannot import azure.mgmt.apimanagement and azure.identity"
}

install_cli() {
    install_venv cli "$clients/cli/.venv" "$clients/cli/requirements.txt"
    local version
    # `az version` writes a cache into the config dir; keep it out of the user's ~/.azure.
    version="$(AZURE_CONFIG_DIR="$(mktemp -d)" "$clients/cli/.venv/bin/az" version --output tsv --query '"azure-cli"')" \
        || die "cli: $clients/cli/.venv/bin/az does not run"
    log "cli: az $version at ${clients#"$root"/}/cli/.venv/bin/az"
}

install_js() {
    local dir="$clients/js" started
    started="$(now)"
    if is_current "$dir/node_modules" .armsim-stamp "$dir/package-lock.json"; then
        log "js: $dir/node_modules is up to date with package-lock.json (nothing to do)"
        return
    fi
    require node "install Node.js 20 or newer"
    require npm "install npm (it comes with Node.js)"
    node -e 'process.exit(Number(process.versions.node.split(".")[0]) < 20 ? 1 : 0)' \
        || die "node is $(node --version); the Azure SDK for JavaScript needs Node.js 20 or newer"
    log "js: npm ci in ${dir#"$root"/} (node $(node --version), npm $(npm --version 2>/dev/null))"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || die "js: npm ci in $dir"
    stamp_of "$dir/package-lock.json" >"$dir/node_modules/.armsim-stamp"
    log "js: installed into ${dir#"$root"/}/node_modules in $(elapsed "$started"), $(size_of "$dir/node_modules")"
}

main() {
    local targets=("$@") target started
    [[ ${#targets[@]} -gt 0 ]] || targets=(all)
    for target in "${targets[@]}"; do
        case "$target" in
            python | js | cli | all) ;;
            -h | --help)
                usage
                exit 0
                ;;
            *)
                usage
                die "unknown client '$target' (expected python, js, cli or all)"
                ;;
        esac
    done
    started="$(now)"
    for target in "${targets[@]}"; do
        case "$target" in
            python) install_python ;;
            js) install_js ;;
            cli) install_cli ;;
            all)
                install_python
                install_js
                install_cli
                ;;
        esac
    done
    log "done in $(elapsed "$started")"
}

main "$@"
