#!/usr/bin/env bash
# The class-room tests run a real Redis (and, when present, nginx in front of two servers): Debian's packages.
set -euo pipefail
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing ${missing[*]} for the class-room tests..."
  apt-get update -qq
  # The tests start their own instances on free ports; the packages' own services are not used.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  exit 0
fi
echo "Missing ${missing[*]}: run 'sudo apt-get install ${missing[*]}'." >&2
exit 1
