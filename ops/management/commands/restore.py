"""manage.py restore ARCHIVE [--database-url URL]: into an empty database, then verified."""

from pathlib import Path

import dj_database_url
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from ops.backup import BackupError, Target, restore


class Command(BaseCommand):
    help = ("Restore a backup archive into an EMPTY database and its media files into "
            "MEDIA_ROOT; every table's row count and checksum is compared with the backup's.")

    def add_arguments(self, parser):
        parser.add_argument("archive")
        parser.add_argument("--database-url", help="target database (default: DATABASE_URL)")
        parser.add_argument("--media-root", help="where to put media files (default: MEDIA_ROOT)")

    def handle(self, *args, **options):
        archive = Path(options["archive"])
        if not archive.is_file():
            raise CommandError(f"{archive}: no such file")
        if options["database_url"]:
            target = Target.from_settings(dj_database_url.parse(options["database_url"]))
        else:
            target = Target.from_settings(connections["default"].settings_dict)
            # Django's own connection would hold the database open during pg_restore.
            connections["default"].close()
        media_root = Path(options["media_root"] or settings.MEDIA_ROOT)
        try:
            result = restore(archive, target, media_root)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        rows = sum(t["rows"] for t in result["tables"].values())
        self.stdout.write(f"restored {archive} into {target.name}: {len(result['tables'])} "
                          f"tables, {rows} rows, {result['media_files']} media files; "
                          "row counts and checksums match the backup")
