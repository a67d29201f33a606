"""manage.py backup [--output FILE]: database (pg_dump custom format) + media in one archive."""

from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from ops.backup import BackupError, Target, backup


class Command(BaseCommand):
    help = "Back up the database and the media files into one consistent archive (a .tar)."

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", help="archive to write (default: "
                            "BACKUP_DIR/sdi-<timestamp>.tar; BACKUP_DIR defaults to var/backups)")
        parser.add_argument("--database", default="default", help="Django database alias")

    def handle(self, *args, **options):
        output = options["output"]
        if not output:
            folder = Path(settings.BACKUP_DIR)
            output = folder / f"sdi-{datetime.now():%Y%m%dT%H%M%S}.tar"
        target = Target.from_settings(connections[options["database"]].settings_dict)
        try:
            manifest = backup(target, Path(settings.MEDIA_ROOT), Path(output))
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        rows = sum(t["rows"] for t in manifest["tables"].values())
        self.stdout.write(f"backup {output}: {len(manifest['tables'])} tables, {rows} rows, "
                          f"{manifest['media']['files']} media files")
