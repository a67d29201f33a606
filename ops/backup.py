"""Consistent backups and restores: pg_dump (custom format) + media files, one archive.

A backup is one tar file holding
    manifest.json   what was backed up: row count and checksum of every table, when, from where
    database.dump   `pg_dump -Fc` of the whole database
    media/...       the media files (uploads)
The manifest's counts and checksums are computed in the very snapshot pg_dump dumps (a
REPEATABLE READ transaction exports its snapshot, pg_dump --snapshot uses it), so they describe
exactly what the dump holds even while editors keep saving. A restore recomputes them on the
restored database and fails loudly on any difference.

Nothing here knows the apps' models: every table of the schema is covered, so a new app's
tables are backed up and verified without touching this file.
"""

import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
from psycopg2 import sql

FORMAT = 1
MANIFEST, DUMP, MEDIA = "manifest.json", "database.dump", "media"


class BackupError(Exception):
    pass


@dataclass
class Target:
    """Where a database is: libpq parameters (from Django's settings dict or a URL)."""

    name: str
    user: str = ""
    password: str = ""
    host: str = ""
    port: str = ""

    @classmethod
    def from_settings(cls, s: dict) -> "Target":
        return cls(name=s["NAME"], user=s.get("USER") or "", password=s.get("PASSWORD") or "",
                   host=s.get("HOST") or "", port=str(s.get("PORT") or ""))

    def connect(self):
        return psycopg2.connect(dbname=self.name, user=self.user or None,
                                password=self.password or None, host=self.host or None,
                                port=self.port or None, connect_timeout=10)

    def env(self) -> dict:
        env = dict(os.environ)
        for key, value in (("PGHOST", self.host), ("PGPORT", self.port), ("PGUSER", self.user),
                           ("PGPASSWORD", self.password), ("PGDATABASE", self.name)):
            if value:
                env[key] = value
            else:
                env.pop(key, None)
        return env


def pg_tool(name: str) -> str:
    """The client tools of the server's major version: an older pg_dump refuses a newer server,
    and Debian puts each version's tools in its own folder."""
    folder = os.environ.get("PG_BIN")
    if folder:
        return str(Path(folder) / name)
    for version in (17, 16, 15):
        path = Path(f"/usr/lib/postgresql/{version}/bin/{name}")
        if path.exists():
            return str(path)
    found = shutil.which(name)
    if not found:
        raise BackupError(f"{name} not found: install the PostgreSQL client tools or set PG_BIN")
    return found


def user_tables(cur) -> list[str]:
    """Every table of the application's schema, PostGIS's own catalogue excepted."""
    cur.execute("""
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> 'spatial_ref_sys'
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
        ORDER BY c.relname""")
    return [name for (name,) in cur.fetchall()]


def table_state(cur) -> dict[str, dict]:
    """Row count and an order-independent checksum of every table's content.

    The checksum hashes each row's text form (geometries as EWKB hex, JSONB normalised by
    PostgreSQL), then the sorted row hashes: any changed, missing or extra row changes it.
    """
    state = {}
    for table in user_tables(cur):
        cur.execute(sql.SQL(
            "SELECT count(*), coalesce(md5(string_agg(h, '' ORDER BY h)), '') "
            "FROM (SELECT md5(t::text) AS h FROM {} t) rows").format(sql.Identifier(table)))
        count, checksum = cur.fetchone()
        state[table] = {"rows": count, "checksum": checksum}
    return state


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(datetime.now(UTC).timestamp())
    tar.addfile(info, io.BytesIO(data))


def backup(target: Target, media_root: Path, output: Path) -> dict:
    """Write a backup archive to `output`; return its manifest."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".part")
    conn = target.connect()
    try:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with conn.cursor() as cur, tempfile.TemporaryDirectory() as tmp:
            cur.execute("SELECT pg_export_snapshot(), current_setting('server_version'), "
                        "now(), current_database()")
            snapshot, server_version, taken_at, dbname = cur.fetchone()
            tables = table_state(cur)
            dump = Path(tmp) / DUMP
            # The transaction stays open while pg_dump runs: that keeps the snapshot alive.
            result = subprocess.run(
                [pg_tool("pg_dump"), "--format=custom", f"--snapshot={snapshot}",
                 "--no-owner", "--no-privileges", f"--file={dump}"],
                env=target.env(), capture_output=True, text=True)
            if result.returncode != 0:
                raise BackupError(f"pg_dump failed: {result.stderr.strip()}")
            conn.rollback()
            media_files = sorted(p for p in media_root.rglob("*") if p.is_file()) \
                if media_root.exists() else []
            manifest = {
                "format": FORMAT, "created_at": taken_at.isoformat(), "database": dbname,
                "server_version": server_version, "host": socket.gethostname(),
                "tables": tables,
                "media": {"files": len(media_files),
                          "bytes": sum(p.stat().st_size for p in media_files)},
            }
            with tarfile.open(partial, "w") as tar:
                _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=1).encode())
                tar.add(dump, arcname=DUMP)
                for path in media_files:
                    tar.add(path, arcname=f"{MEDIA}/{path.relative_to(media_root)}")
            os.replace(partial, output)  # a crash never leaves a complete-looking archive
    finally:
        conn.close()
        partial.unlink(missing_ok=True)
    return manifest


def read_manifest(archive: Path) -> dict:
    try:
        with tarfile.open(archive) as tar:
            member = tar.extractfile(MANIFEST)
            if member is None:
                raise KeyError(MANIFEST)
            manifest = json.load(member)
    except (tarfile.TarError, KeyError, json.JSONDecodeError, OSError) as exc:
        raise BackupError(f"{archive} is not a backup archive ({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{archive}: unknown backup format {manifest.get('format')!r}")
    return manifest


def compare(expected: dict, actual: dict) -> list[str]:
    problems = []
    for table in sorted(set(expected) | set(actual)):
        want, got = expected.get(table), actual.get(table)
        if want is None:
            problems.append(f"{table}: not in the backup")
        elif got is None:
            problems.append(f"{table}: missing after restore")
        elif want != got:
            problems.append(f"{table}: backup has {want['rows']} rows ({want['checksum'][:8]}), "
                            f"restored {got['rows']} rows ({got['checksum'][:8]})")
    return problems


def restore(archive: Path, target: Target, media_root: Path) -> dict:
    """Restore `archive` into the empty database `target` and its media into `media_root`.

    The database must be empty (PostGIS may be installed): restoring over live data would mix
    two states. pg_restore runs in one transaction, so a failed restore leaves it empty.
    """
    manifest = read_manifest(archive)
    conn = target.connect()
    try:
        with conn.cursor() as cur:
            existing = user_tables(cur)
        conn.rollback()
        if existing:
            raise BackupError(
                f"database {target.name} is not empty ({len(existing)} tables, e.g. "
                f"{', '.join(existing[:3])}); restore only into an empty database")
        with tempfile.TemporaryDirectory() as tmp, tarfile.open(archive) as tar:
            tar.extract(DUMP, tmp, filter="data")
            result = subprocess.run(
                [pg_tool("pg_restore"), "--single-transaction", "--exit-on-error",
                 "--no-owner", "--no-privileges", f"--dbname={target.name}",
                 str(Path(tmp) / DUMP)],
                env=target.env(), capture_output=True, text=True)
            if result.returncode != 0:
                raise BackupError(f"pg_restore failed (nothing restored): "
                                  f"{result.stderr.strip()[-2000:]}")
            media = [m for m in tar.getmembers() if m.name.startswith(MEDIA + "/") and m.isfile()]
            media_root.mkdir(parents=True, exist_ok=True)
            for member in media:
                member = member.replace(name=member.name[len(MEDIA) + 1:])
                # filter="data" refuses absolute paths, "..", links out of the folder.
                tar.extract(member, media_root, filter="data")
        with conn.cursor() as cur:
            cur.execute("ANALYZE")  # fresh statistics: the planner has none after a restore
            restored = table_state(cur)
        conn.commit()
    finally:
        conn.close()
    problems = compare(manifest["tables"], restored)
    if problems:
        raise BackupError("restored database differs from the backup: " + "; ".join(problems))
    return {"manifest": manifest, "tables": restored, "media_files": len(media)}
