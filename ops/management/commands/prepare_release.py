"""manage.py prepare_release [CITY]: the one-shot step before web processes start.

migrate, collectstatic, load the city's layers (unchanged ones are skipped) and compute the
indicators, in one process: each manage.py start costs seconds of imports, and the compose
`migrate` service and scripts/prod-local.sh both run this on every deploy.
"""

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "migrate + collectstatic + load_city + compute_indicators, in one process."

    def add_arguments(self, parser):
        parser.add_argument("city", nargs="?", default="kielce")
        parser.add_argument("--skip-static", action="store_true",
                            help="static files are already collected (make test does it)")

    def handle(self, city, skip_static=False, **options):
        quiet = {"verbosity": 0}
        call_command("migrate", interactive=False, **quiet)
        if not skip_static:
            call_command("collectstatic", interactive=False, **quiet)
        call_command("load_city", city, **quiet)
        call_command("compute_indicators", **quiet)
        self.stdout.write(f"release prepared: migrated, {city} loaded, indicators computed")
