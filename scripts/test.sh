#!/usr/bin/env bash
# armsim's whole test suite, as CI runs it (.ci/run calls this): formatting, lints, and every test,
# including the ones that drive the official Python/JS SDKs and the Azure CLI against armsim. It installs
# what those need first (scripts/install-clients.sh: project-local venvs and node_modules; quick when
# already installed).
#
# Usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

step() { printf '\n== %s\n' "$*" >&2; }

step "install the official clients the real-client tests drive"
scripts/install-clients.sh all
step "format"
cargo fmt --all -- --check
step "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "tests"
cargo test --workspace --locked "$@"
