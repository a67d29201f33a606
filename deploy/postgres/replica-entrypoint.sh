#!/bin/sh
# The read replica: on first start, clone the primary with pg_basebackup (-R writes the standby
# settings), then run as a hot standby streaming from the primary's slot. The server runs as
# `postgres`, never root (setpriv execs it, so Docker's stop signal reaches it directly).
#   PRIMARY               the primary's host:port (db:5432)
#   REPLICATION_PASSWORD  the replicator role's password (deploy/postgres/primary-init.sh)
#   PGDATA                the replica's data folder
set -eu
primary=${PRIMARY:-db:5432}
host=${primary%:*}
port=${primary##*:}
as_postgres="setpriv --reuid=postgres --regid=postgres --init-groups --"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -h "$host" -p "$port" -q; do sleep 1; done
  mkdir -p "$PGDATA" && chown postgres:postgres "$PGDATA" && chmod 700 "$PGDATA"
  $as_postgres env PGPASSWORD="$REPLICATION_PASSWORD" pg_basebackup -h "$host" -p "$port" \
    -U replicator -D "$PGDATA" -X stream -S replica -R -c fast
fi
exec $as_postgres postgres -D "$PGDATA" -c hot_standby=on -c hot_standby_feedback=on \
  -c archive_mode=off -c max_connections=200
