"""Create the PostGIS extension in the database named by DATABASE_URL, if it is missing."""

import os

import dj_database_url
import psycopg2

cfg = dj_database_url.parse(os.environ["DATABASE_URL"])
conn = psycopg2.connect(
    dbname=cfg["NAME"], user=cfg["USER"], password=cfg["PASSWORD"],
    host=cfg["HOST"] or None, port=cfg["PORT"] or None,
)
conn.autocommit = True
with conn.cursor() as cur:
    cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
conn.close()
