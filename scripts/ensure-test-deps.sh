#!/usr/bin/env bash
# Installs the system packages the tests use as real peers, if missing (runs before `npm test`):
# redis-server (store tests start their own on a free port), mbpoll and pymodbus (an
# independent Modbus client and server for cross-checks), docker-compose (checks
# docker-compose.yaml; no Docker engine is needed for `docker-compose config`), chromium (the
# browser test drives Debian's Chromium with playwright-core; it never downloads a browser).
set -euo pipefail
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v mbpoll >/dev/null || need+=(mbpoll)
command -v docker-compose >/dev/null || need+=(docker-compose)
[ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || need+=(chromium)
/usr/bin/python3 -c 'import pymodbus, serial, serial_asyncio' 2>/dev/null || need+=(python3-pymodbus python3-serial python3-serial-asyncio)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "The tests need: ${need[*]} (Debian packages). Install them, e.g. sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "Installing test peers: ${need[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
