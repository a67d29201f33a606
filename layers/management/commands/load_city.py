from django.core.management.base import BaseCommand, CommandError

from layers.city import CityLoadError, load_city


class Command(BaseCommand):
    help = "Load (or refresh) a city's layers from fixtures/<city>/city.yaml. Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("city", nargs="?", default="kielce")
        parser.add_argument("--force", action="store_true",
                            help="reload layers even when their sources are unchanged")

    def handle(self, city, force, **options):
        try:
            results = load_city(city, force=force)
        except (CityLoadError, FileNotFoundError) as exc:
            raise CommandError(str(exc)) from exc
        for r in results:
            extra = f", {len(r.repaired)} geometries repaired" if r.repaired else ""
            self.stdout.write(f"{r.slug}: {r.status} ({r.features} features{extra})")
