#!/usr/bin/env bash
# axe-core for the accessibility browser tests, installed from npm into .cache/npm (gitignored):
# the tests inject it into the page themselves; the app never serves it.
set -euo pipefail
cd "$(dirname "$0")/.."
version="4.14.1"
target=".cache/npm/node_modules/axe-core"
if [ -f "$target/axe.min.js" ] && grep -q "\"version\": \"$version\"" "$target/package.json"; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "Installing Debian's nodejs and npm for axe-core..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "npm is missing: run 'sudo apt-get install nodejs npm' (the accessibility tests need axe-core)." >&2
    exit 1
  fi
fi
mkdir -p .cache/npm
npm install --prefix .cache/npm --no-audit --no-fund --silent "axe-core@$version"
