#!/bin/sh
# The primary's entrypoint: hands the WAL archive to the server's user, then the image's own
# entrypoint (initdb on first start, docker-entrypoint-initdb.d, then the server as `postgres`).
# Docker creates the wal-archive volume owned by root and the image has no /wal-archive to copy
# ownership from: without this, archive_command fails on every segment and WAL piles up in
# pg_wal until the disk is full.
#   WAL_ARCHIVE   the archive folder (default /wal-archive; archive_command writes there)
set -eu
archive=${WAL_ARCHIVE:-/wal-archive}
mkdir -p "$archive"
chown postgres:postgres "$archive"
chmod 700 "$archive"
exec docker-entrypoint.sh "$@"
