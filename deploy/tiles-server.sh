#!/bin/sh
# The tile service: the same Django application as `web`, run by granian (HTTP in Rust) for the
# /tiles/ traffic that nginx sends here. A cold tile request spends a third of its Python time
# in the server itself; under gunicorn's gthread loop that was ~0.4 ms more CPU per tile than
# under granian (bench/tiles.py, README "Vector tiles"). Everything else stays on gunicorn.
# Plain public layer tiles are answered by tiles.wsgi.PlainTiles in front of Django (sdi.wsgi).
#
#   TILES_BIND      host:port (default 0.0.0.0:8001)
#   TILES_WORKERS   processes (default 4)      TILES_THREADS   threads per process (default 4)
#   PYTHON          the interpreter with the requirements (default: python on PATH)
#   PROMETHEUS_MULTIPROC_DIR   the workers' metric files, emptied here at start (as
#                   deploy/gunicorn.conf.py does for web); /metrics on this port adds them up
set -eu
bind=${TILES_BIND:-0.0.0.0:8001}
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-${TMPDIR:-/tmp}/sdi-prometheus-tiles}"
rm -rf "$PROMETHEUS_MULTIPROC_DIR"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
# --http1-header-read-timeout also closes idle keep-alive connections (granian's maximum, 60 s):
# a proxy that keeps connections alive must let them go sooner (50 s), else it may reuse a
# connection the server has just closed.
# An idle thread is ended after --blocking-threads-idle-timeout, and its database connection
# (and prepared tile statements) with it: the maximum (10 min) keeps them through quiet spells.
exec "${PYTHON:-python}" -m granian --interface wsgi --no-ws \
  --host "${bind%:*}" --port "${bind##*:}" \
  --workers "${TILES_WORKERS:-4}" --blocking-threads "${TILES_THREADS:-4}" \
  --blocking-threads-idle-timeout 600 --http1-header-read-timeout 60000 \
  --respawn-failed-workers \
  --log-level "${TILES_LOG_LEVEL:-warning}" --no-access-log \
  sdi.wsgi:application
