from django.core.management.base import BaseCommand, CommandError

from reports.config import ConfigError, load


class Command(BaseCommand):
    help = ("Create the citizen reports layer and upsert the report categories from "
            "fixtures/<city>/reports.yaml. Loads no reports.")

    def add_arguments(self, parser):
        parser.add_argument("city", nargs="?", default="kielce")

    def handle(self, city, **options):
        try:
            result = load(city)
        except ConfigError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"reports: layer {result['layer']}, {result['categories']} categories")
