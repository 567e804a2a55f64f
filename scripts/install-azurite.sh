#!/usr/bin/env bash
# Install npm's azurite (the Azure Storage emulator) for the flowyml-azure tests.
#
# Idempotent: does nothing when the pinned version is already there.
# Target folder: $1, else $FLOWYML_TOOLS_DIR/azurite, else <repo>/.tools/azurite.
# The tests look for <folder>/node_modules/.bin/azurite-blob (and on PATH).
# Needs node + npm; as root on Debian/Ubuntu it installs them with apt-get when they are missing.
set -euo pipefail

AZURITE_VERSION="${AZURITE_VERSION:-3.35.0}"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ $# -ge 1 ]]; then
    target="$1"
elif [[ -n "${FLOWYML_TOOLS_DIR:-}" ]]; then
    target="${FLOWYML_TOOLS_DIR}/azurite"
else
    target="${repo_root}/.tools/azurite"
fi
exe="${target}/node_modules/.bin/azurite-blob"
stamp="${target}/node_modules/.flowyml-azurite-version"  # inside the git-ignored node_modules/

if [[ -x "${exe}" && -f "${stamp}" && "$(cat "${stamp}")" == "${AZURITE_VERSION}" ]]; then
    echo "azurite ${AZURITE_VERSION} already installed: ${exe}"
    exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
    if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
        echo "install-azurite: npm not found; installing nodejs and npm with apt-get"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    fi
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "install-azurite: npm not found (apt-get install -y nodejs npm)" >&2
    exit 1
fi

mkdir -p "${target}"
# --no-save / --no-package-lock: leave no package.json behind; node_modules/ is git-ignored.
npm install --prefix "${target}" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
    "azurite@${AZURITE_VERSION}"
test -x "${exe}"
echo "${AZURITE_VERSION}" > "${stamp}"
echo "azurite ${AZURITE_VERSION} installed: ${exe}"
