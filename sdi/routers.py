"""Reads on the replica, writes on the primary, configured by environment alone.

With DATABASE_REPLICA_URL set, settings add a `replica` database and this router sends the
reads of anonymous, safe (GET/HEAD) requests there: tiles, OGC items, pages, downloads. Writes,
and every read of a request that may write, go to the primary (`default`).

Read-your-writes: a streaming replica lags by milliseconds to seconds, so the editor who just
saved must not read the old value back from it. After any unsafe request (POST/PUT/PATCH/DELETE)
the response sets a short-lived cookie (STICKY_SECONDS); while it is present, that browser's
reads go to the primary. Token-authenticated API clients, staff pages (/admin/) and requests
with a session (logged in users) always read from the primary: they are few, and they are the
ones who write.

The replica failing is not an outage: the middleware checks it at the start of a request and,
if it cannot connect, marks it down for DATABASE_REPLICA_RETRY_SECONDS and reads from the
primary. Every few seconds it also asks the replica whether it is streaming from the primary and
how far behind it is: a replica cut off, or more than DATABASE_REPLICA_MAX_LAG seconds behind, is
treated as down too (it would otherwise serve old data indefinitely).

Raw SQL (tiles, OGC) takes its connection from `read_connection`, which asks the same router.
Without DATABASE_REPLICA_URL everything runs on `default`, exactly as before.
"""

import contextvars
import logging
import time

from django.conf import settings
from django.db import connections
from django.db.utils import DatabaseError

log = logging.getLogger("sdi.routers")

PRIMARY = "default"
REPLICA = "replica"
STICKY_COOKIE = "sdi_primary"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

# Per request (contextvars: correct under threads and async alike): where this request reads,
# decided once at its start, so that a replica coming back mid-request is not used unchecked.
# Outside requests (commands, shell, tests) everything reads from the primary.
_read_alias: contextvars.ContextVar[str] = contextvars.ContextVar("sdi_read_alias",
                                                                  default=PRIMARY)
_wrote: contextvars.ContextVar[bool] = contextvars.ContextVar("sdi_wrote", default=False)
_replica_down_until = 0.0


def sticky_seconds() -> int:
    return int(getattr(settings, "DATABASE_STICKY_SECONDS", 10))


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def database_aliases() -> list[str]:
    return [PRIMARY, REPLICA] if replica_configured() else [PRIMARY]


def replica_available() -> bool:
    return replica_configured() and time.monotonic() >= _replica_down_until


def mark_replica_down(exc: Exception) -> None:
    global _replica_down_until
    retry = float(getattr(settings, "DATABASE_REPLICA_RETRY_SECONDS", 5))
    if time.monotonic() >= _replica_down_until:
        log.warning("replica unusable (%s: %s); reading from the primary for %ss",
                    exc.__class__.__name__, exc, retry)
    _replica_down_until = time.monotonic() + retry


def read_alias() -> str:
    return _read_alias.get()


def replica_state(cursor) -> tuple[str, float | None]:
    """The replica's WAL receiver status ('streaming' when it follows the primary) and lag.

    No receiver row: 'stopped'. A row whose status is hidden (a role without pg_read_all_stats
    sees only NULLs): 'unknown', which is not held against the replica.
    """
    cursor.execute("SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM pg_stat_wal_receiver) "
                   "THEN 'stopped' ELSE coalesce((SELECT status FROM pg_stat_wal_receiver), "
                   "'unknown') END")
    return cursor.fetchone()[0], replica_lag(cursor)


class ReplicaStale(DatabaseError):
    """The replica answers but does not follow the primary closely enough to be read."""


_last_state_check = 0.0


def _check_state(conn) -> None:
    """Every few seconds per process: a replica cut off from the primary, or too far behind,
    would serve old data for as long as it stays that way; read from the primary instead."""
    global _last_state_check
    now = time.monotonic()
    if now - _last_state_check < float(getattr(settings, "DATABASE_REPLICA_CHECK_SECONDS", 5)):
        return
    _last_state_check = now
    with conn.cursor() as cur:
        status, lag = replica_state(cur)
    if status not in ("streaming", "unknown"):
        raise ReplicaStale(f"replica not streaming from the primary ({status})")
    max_lag = float(getattr(settings, "DATABASE_REPLICA_MAX_LAG", 60))
    if lag is not None and lag > max_lag:
        raise ReplicaStale(f"replica {lag:.0f} s behind the primary")


def replica_lag(cursor) -> float | None:
    """Seconds the replica is behind; 0 when it has replayed all it received."""
    cursor.execute("""
        SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                    ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END""")
    row = cursor.fetchone()
    return None if row is None or row[0] is None else float(row[0])


class PrimaryReplicaRouter:
    def db_for_read(self, model, **hints):
        return read_alias()

    def db_for_write(self, model, **hints):
        _wrote.set(True)
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints):
        return True  # one physical database

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == PRIMARY  # the replica is a physical copy: it gets the schema by WAL


class _ReadConnection:
    """`django.db.connection`, but on the database the router picks for reads."""

    def __getattr__(self, item):
        return getattr(connections[read_alias()], item)


read_connection = _ReadConnection()


def _reads_from_primary(request) -> bool:
    if request.method not in SAFE_METHODS:
        return True
    if request.path.startswith("/admin/") or "HTTP_AUTHORIZATION" in request.META:
        return True
    if settings.SESSION_COOKIE_NAME in request.COOKIES:
        return True
    until = request.COOKIES.get(STICKY_COOKIE, "")
    try:
        return float(until) > time.time()
    except ValueError:
        return False


def _replica_usable() -> bool:
    """Connect (or health-check the persistent connection) before the request relies on it."""
    if not replica_available():
        return False
    conn = connections[REPLICA]
    try:
        conn.close_if_health_check_failed()
        conn.ensure_connection()
        _check_state(conn)
        return True
    except DatabaseError as exc:
        if not isinstance(exc, ReplicaStale):
            conn.close()
        mark_replica_down(exc)
        return False


def choose_reads(request) -> str:
    """Where a request reads: the replica when the request may and the replica is usable."""
    return REPLICA if not _reads_from_primary(request) and _replica_usable() else PRIMARY


def set_reads(alias: str) -> contextvars.Token:
    """Reads go to `alias` until reset_reads(token): for tiles.wsgi, which answers tile
    requests without this middleware."""
    return _read_alias.set(alias)


def reset_reads(token: contextvars.Token) -> None:
    _read_alias.reset(token)


class ReplicaRoutingMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        tokens = _read_alias.set(choose_reads(request)), _wrote.set(False)
        try:
            response = self.get_response(request)
            wrote = _wrote.get()
        finally:
            _read_alias.reset(tokens[0])
            _wrote.reset(tokens[1])
        if wrote or request.method not in SAFE_METHODS:
            # The value is the expiry time: the server needs no state to honour it, and a
            # forged value only sends that client's own reads to the primary.
            seconds = sticky_seconds()
            response.set_cookie(STICKY_COOKIE, f"{time.time() + seconds:.3f}", max_age=seconds,
                                httponly=True, samesite="Lax",
                                secure=settings.SESSION_COOKIE_SECURE)
        return response
