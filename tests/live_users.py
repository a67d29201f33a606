"""Users committed for the live server (gunicorn sees only committed rows, while a test's own
connection sits in a transaction that is rolled back), through a connection of their own, and
removed again afterwards with what the admin logged for them."""

import binascii
import os
from contextlib import contextmanager
from dataclasses import dataclass

from django.contrib.auth.hashers import make_password
from django.db import connections


@dataclass
class LiveUser:
    id: int
    username: str
    password: str | None
    token: str | None


@contextmanager
def committed():
    """A cursor on a second connection in autocommit mode."""
    connection = connections.create_connection("default")
    try:
        with connection.cursor() as cur:
            yield cur
    finally:
        connection.close()


@contextmanager
def live_user(username: str, *, staff: bool = False, superuser: bool = False,
              password: str | None = None, token: bool = False):
    """A committed user (with a usable password and a DRF token when asked for)."""
    key = binascii.hexlify(os.urandom(20)).decode() if token else None
    with committed() as cur:
        cur.execute("""INSERT INTO auth_user (username, password, is_superuser, is_staff,
                       is_active, first_name, last_name, email, date_joined)
                       VALUES (%s, %s, %s, %s, true, '', '', '', now()) RETURNING id""",
                    [username, make_password(password) if password else "!", superuser,
                     staff or superuser])
        user_id = cur.fetchone()[0]
        if key:
            cur.execute("INSERT INTO authtoken_token (key, user_id, created) "
                        "VALUES (%s, %s, now())", [key, user_id])
    try:
        yield LiveUser(user_id, username, password, key)
    finally:
        with committed() as cur:
            cur.execute("DELETE FROM django_admin_log WHERE user_id = %s", [user_id])
            cur.execute("DELETE FROM authtoken_token WHERE user_id = %s", [user_id])
            cur.execute("DELETE FROM auth_user WHERE id = %s", [user_id])
