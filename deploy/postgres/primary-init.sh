#!/bin/sh
# Runs once, when the primary's data directory is created (docker-entrypoint-initdb.d): the
# replication role, its slot, and the pg_hba line the replica connects with. The password is
# passed as a psql variable and quoted by psql (:'...'), so any character is safe in it.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v replication_password="$REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE replicator LOGIN REPLICATION PASSWORD :'replication_password';
SELECT pg_create_physical_replication_slot('replica');
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
