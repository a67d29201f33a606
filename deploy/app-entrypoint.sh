#!/bin/sh
# The image's entrypoint (Dockerfile ENTRYPOINT) for every service built from it: migrate, web,
# tiles, backup. Docker creates named volumes owned by root, and the image holds nothing at
# their mount points to copy ownership from; the application's user must write its static files
# (migrate's collectstatic), media (uploads) and backups. As root, this gives those folders to
# SDI_USER, then runs the command as that user; started as another user, it only runs it.
#
#   STATIC_ROOT, MEDIA_ROOT, BACKUP_DIR   the folders to hand over (each optional)
#   SDI_USER                              default sdi (created in the Dockerfile)
#
# setpriv execs the command (no process stays in between), so the stop signal reaches gunicorn
# or granian itself; runuser/su would wait in a parent that kills the server 2 s after a signal.
set -eu
user=${SDI_USER:-sdi}
if [ "$(id -u)" = 0 ]; then
  for dir in "${STATIC_ROOT:-}" "${MEDIA_ROOT:-}" "${BACKUP_DIR:-}"; do
    [ -n "$dir" ] || continue
    mkdir -p "$dir"
    # A read-only mount (static in web, media in backup) is left as it is: the service that
    # mounts it read-write has handed it over already.
    if [ -w "$dir" ] && [ "$(stat -c %U "$dir")" != "$user" ]; then
      chown "$user:" "$dir"
    fi
  done
  exec setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups -- "$@"
fi
exec "$@"
