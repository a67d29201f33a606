"""Settings of the job workers the tests start (tests/workers.py): the project's, plus the
test-only job kinds (tests/jobs_tasks.py) and mail to the test's own SMTP server."""

import os

from sdi.settings import *  # noqa: F403

PROCRASTINATE_IMPORT_PATHS = ["tests.jobs_tasks"]
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = int(os.environ.get("TEST_SMTP_PORT", "2525"))
EMAIL_TIMEOUT = 5
