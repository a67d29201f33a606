#!/bin/sh
# The read replica: on first start, clone the primary with pg_basebackup (-R writes the standby
# settings), then run as a hot standby streaming from the primary's slot. gosu ships with the
# postgres image; the server must not run as root.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -h db -p 5432 -q; do sleep 1; done
  mkdir -p "$PGDATA" && chown postgres:postgres "$PGDATA" && chmod 700 "$PGDATA"
  gosu postgres env PGPASSWORD="$REPLICATION_PASSWORD" pg_basebackup -h db -p 5432 \
    -U replicator -D "$PGDATA" -X stream -S replica -R -c fast
fi
exec gosu postgres postgres -D "$PGDATA" -c hot_standby=on -c hot_standby_feedback=on \
  -c archive_mode=off -c max_connections=200
