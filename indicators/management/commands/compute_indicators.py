import time

from django.core.management.base import BaseCommand, CommandError

from indicators.computing import compute_indicator
from indicators.definitions import load_definitions
from indicators.methods import MethodError
from indicators.models import Indicator


class Command(BaseCommand):
    help = "Load the city's indicator definitions and (re)compute all indicator values."

    def add_arguments(self, parser):
        parser.add_argument("--city", default="kielce")

    def handle(self, city, **options):
        started = time.perf_counter()
        try:
            load_definitions(city)
            for indicator in Indicator.objects.all():
                count = compute_indicator(indicator)
                self.stdout.write(f"{indicator.code}: {count} values")
        except MethodError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"computed in {time.perf_counter() - started:.2f} s")
