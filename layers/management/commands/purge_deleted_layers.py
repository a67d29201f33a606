from django.core.management.base import BaseCommand

from layers.lifecycle import purge_deleted_layers
from layers.models import LAYER_RETENTION_DAYS


class Command(BaseCommand):
    help = f"Remove layers deleted more than {LAYER_RETENTION_DAYS} days ago (run daily)."

    def handle(self, *args, **options):
        for slug in purge_deleted_layers():
            self.stdout.write(f"purged {slug}")
