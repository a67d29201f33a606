"""Django set-up for the benchmark scripts: the database of DATABASE_URL (default: the local
cluster's `sdi`), migrated. Benchmarks write only layers they label synthetic and remove them."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup(migrate: bool = True) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sdi.settings")
    os.environ.setdefault("BASEMAP_URL", "")
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def pg_dsn() -> str:
    """The same database as a libpq connection string (for ogr2ogr's PG: driver)."""
    from django.db import connection

    s = connection.settings_dict
    return (f"PG:host={s['HOST']} port={s['PORT']} dbname={s['NAME']} user={s['USER']} "
            f"password={s['PASSWORD']}")
