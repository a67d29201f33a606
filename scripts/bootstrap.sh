#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks: system packages (PostgreSQL 15 + PostGIS 3,
# GDAL tools, Chromium for browser tests, Redis, nginx; acl for the local production topology,
# scripts/prod-local.sh) and a Python 3.12 virtualenv with the pinned development requirements
# (requirements-dev.txt: the runtime pins of requirements.txt plus tests and tools).
# Idempotent: a second run only checks and returns.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(postgresql-15-postgis-3 gdal-bin chromium redis-server gettext nginx acl)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

find_python() {
  if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
  if command -v pyenv >/dev/null 2>&1 && pyenv prefix 3.12.1 >/dev/null 2>&1; then
    echo "$(pyenv prefix 3.12.1)/bin/python3"; return
  fi
  for c in python3.12 /root/.pyenv/versions/3.12.1/bin/python3; do
    command -v "$c" >/dev/null 2>&1 && { command -v "$c"; return; }
  done
  echo "bootstrap: Python 3.12 not found (set PYTHON=/path/to/python3.12)" >&2; exit 1
}

if [ ! -x .venv/bin/python ]; then
  "$(find_python)" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi
# Reinstall only when the pins change: the stamp covers both files (the dev file includes the
# runtime one).
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install -q -r requirements-dev.txt
  echo "$want" > "$stamp"
fi
