import time

from django.core.management.base import BaseCommand, CommandError

from indicators.computing import compute_all
from indicators.definitions import load_definitions
from indicators.methods import MethodError


class Command(BaseCommand):
    help = ("Load the city's indicator definitions and (re)compute indicator values: all of "
            "them, or with --stale only those whose inputs changed since.")

    def add_arguments(self, parser):
        parser.add_argument("--city", default="kielce")
        parser.add_argument("--stale", action="store_true",
                            help="recompute only indicators with stale values")
        parser.add_argument("--no-definitions", action="store_true",
                            help="do not reload the definitions from the city's files")

    def handle(self, city, stale, no_definitions, **options):
        started = time.perf_counter()
        timings: dict[str, float] = {}
        try:
            if not no_definitions:
                load_definitions(city)
            counts = compute_all(only_stale=stale, timings=timings)
        except MethodError as exc:
            raise CommandError(str(exc)) from exc
        for code, count in counts.items():
            self.stdout.write(f"{code}: {count} values ({timings[code] * 1000:.0f} ms)")
        if stale and not counts:
            self.stdout.write("nothing stale")
        self.stdout.write(f"computed in {time.perf_counter() - started:.2f} s")
