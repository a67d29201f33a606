# Production image: Debian 12 with GDAL/GEOS/PROJ for GeoDjango, Python 3.12, the runtime pins of
# requirements.txt only (no test tools), the city data of fixtures/ and compiled translations.
# Static files are collected by the `migrate` service into the `static` volume, not here.
FROM python:3.12-slim-bookworm
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgdal32 libgeos-c1v5 libproj25 gettext curl \
    postgresql-client-15 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
# .dockerignore keeps .env, tests, bench, var, artifacts and .git out.
COPY . .
RUN python manage.py compilemessages --ignore=.venv -v 0
RUN useradd --system --user-group --home-dir /app --shell /usr/sbin/nologin sdi
# The container starts as root only for deploy/app-entrypoint.sh to hand the volumes Docker
# creates root-owned (static, media, backups) to `sdi`; the command itself runs as `sdi`.
ENTRYPOINT ["/app/deploy/app-entrypoint.sh"]
EXPOSE 8000
CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "sdi.wsgi:application"]
