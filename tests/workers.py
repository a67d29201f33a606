"""Starting job workers (`manage.py procrastinate worker`, as in production) against the test
database, and a small SMTP server for the mail they send."""

import os
import socketserver
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from email import message_from_bytes

from tests.live_users import committed
from tests.servers import ROOT, current_database_url

# Short timeouts, so that the tests see stalls and retries in seconds.
WORKER_ENV = {"JOBS_STALLED_SECONDS": "3", "JOBS_PROGRESS_SECONDS": "0",
              "JOBS_MAIL_RETRY_SECONDS": "0.3", "JOBS_MAIL_ATTEMPTS": "3",
              "JOBS_LOG_LEVEL": "INFO", "DB_CONN_MAX_AGE": "0", "BASEMAP_URL": ""}


def newest_worker_id() -> int:
    with committed() as cur:
        cur.execute("SELECT coalesce(max(id), 0) FROM procrastinate_workers")
        return cur.fetchone()[0]


@contextmanager
def live_worker(log_name: str, extra_env: dict | None = None, start_timeout: float = 60):
    """A worker process on the test database; yields the Popen once it has registered."""
    env = dict(os.environ, DATABASE_URL=current_database_url(),
               DJANGO_SETTINGS_MODULE="tests.worker_settings", **WORKER_ENV, **(extra_env or {}))
    before = newest_worker_id()
    log = open(ROOT / "var" / log_name, "a")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "manage.py", "procrastinate", "worker"], cwd=ROOT,
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + start_timeout
    while newest_worker_id() <= before:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.close()
            raise RuntimeError(f"the worker did not start; see {log.name}")
        time.sleep(0.2)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


class SMTPServer(socketserver.ThreadingTCPServer):
    """Just enough SMTP for Django's backend: refuses the first `failures` messages with a
    temporary error (451), then keeps what it is sent in `messages`."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, failures: int = 0):
        super().__init__(("127.0.0.1", 0), SMTPHandler)
        self.failures = failures
        self.refused = 0
        self.messages = []
        self.lock = threading.Lock()

    @property
    def port(self) -> int:
        return self.server_address[1]


class SMTPHandler(socketserver.StreamRequestHandler):
    def reply(self, line: str):
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self):
        self.reply("220 test SMTP")
        while line := self.rfile.readline():
            verb = line.decode(errors="replace").strip().split(" ")[0].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 test")
            elif verb == "MAIL":
                with self.server.lock:
                    refuse = self.server.refused < self.server.failures
                    self.server.refused += refuse
                self.reply("451 4.3.0 try again later" if refuse else "250 OK")
            elif verb in ("RCPT", "RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 go ahead")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk
                with self.server.lock:
                    self.server.messages.append(message_from_bytes(data))
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


@contextmanager
def smtp_server(failures: int = 0):
    server = SMTPServer(failures)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
