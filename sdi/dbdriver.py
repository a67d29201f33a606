"""Django on psycopg2, although psycopg 3 is installed for the job queue's worker.

Django uses psycopg 3 whenever it can import it, and procrastinate (the job queue, jobs app)
needs psycopg 3 for its worker's connection pool. This project's database code is written and
measured on psycopg2: COPY through `copy_expert` (layers.importing.staging), tile
statements that send `SET LOCAL ...; EXECUTE ...` in one round trip and read the last result
(tiles.queries; psycopg 3 answers the first), the tile benchmarks. So Django is made to choose
psycopg2: the two modules where it chooses are imported once while psycopg 3 is hidden from
them, then psycopg 3 is visible again to procrastinate. Settings call this first, before anything
imports Django's PostgreSQL backend. Moving Django to psycopg 3 is a change of its own (those
call sites, and bench/tiles.py to measure it).
"""

import importlib
import sys

CHOOSERS = ("django.db.backends.postgresql.psycopg_any", "django.db.backends.postgresql.base")


def keep_django_on_psycopg2() -> None:
    if CHOOSERS[0] in sys.modules:
        return  # already chosen
    hidden = {name: sys.modules.pop(name) for name in list(sys.modules)
              if name == "psycopg" or name.startswith("psycopg.")}
    sys.modules["psycopg"] = None  # `import psycopg` now raises ImportError
    try:
        for module in CHOOSERS:
            importlib.import_module(module)
    finally:
        del sys.modules["psycopg"]
        sys.modules.update(hidden)
