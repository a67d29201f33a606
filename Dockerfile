# Production image: Debian 12 with GDAL/GEOS/PROJ for GeoDjango, Python 3.12, gunicorn.
FROM python:3.12-slim-bookworm
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgdal32 libgeos-c1v5 libproj25 gettext curl \
    postgresql-client-15 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
RUN python manage.py compilemessages --ignore=.venv -v 0 \
 && DATABASE_URL=postgres://build@localhost/build python manage.py collectstatic --noinput -v 0
RUN useradd --system --home /app sdi && mkdir -p /app/var/media && chown -R sdi /app/var
USER sdi
EXPOSE 8000
CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "sdi.wsgi:application"]
