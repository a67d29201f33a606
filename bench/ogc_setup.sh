#!/usr/bin/env bash
# Virtualenvs for the baselines of bench/ogc_items.py, kept apart from the project's .venv:
# stock pygeoapi with its PostgreSQL provider (needs SQLAlchemy + GeoAlchemy2, which the project
# does not use) and tipg. Pinned; re-running is a no-op once they exist.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.12}
command -v "$PY" >/dev/null || PY=.venv/bin/python
if [ ! -x var/ogc-bench-pygeoapi-venv/bin/gunicorn ]; then
  "$PY" -m venv var/ogc-bench-pygeoapi-venv
  var/ogc-bench-pygeoapi-venv/bin/pip install -q pygeoapi==0.24.0 SQLAlchemy==2.1.9 \
    GeoAlchemy2==0.20.0 psycopg2-binary==2.9.13 gunicorn==27.0.1
fi
# Another bench (issue 4) may install tipg in var/bench-tipg-venv: reused when present.
if [ ! -x var/bench-tipg-venv/bin/uvicorn ] && [ ! -x var/ogc-bench-tipg-venv/bin/uvicorn ]; then
  "$PY" -m venv var/ogc-bench-tipg-venv
  var/ogc-bench-tipg-venv/bin/pip install -q tipg==1.6.1 uvicorn==0.54.0
fi
