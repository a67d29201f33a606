from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count

from jobs import stalls
from jobs.models import Job


class Command(BaseCommand):
    help = ("The job queue at a glance: workers alive (a heartbeat within JOBS_STALLED_SECONDS), "
            "jobs per state. Fails when no worker is alive (a worker container's healthcheck).")

    def handle(self, *args, **options):
        alive = stalls.live_workers()
        states = dict(Job.objects.values_list("state").annotate(n=Count("id")))
        self.stdout.write(f"workers alive: {alive}; jobs: " + ", ".join(
            f"{state} {states.get(state, 0)}" for state in Job.State.values))
        if not alive:
            raise CommandError(f"no worker has sent a heartbeat in the last "
                               f"{settings.JOBS_STALLED_SECONDS:g} s")
