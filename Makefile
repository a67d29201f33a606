# The two commands of the README: `make run` and `make test`. Everything else is a step of theirs.
SHELL := /bin/bash
PORT ?= 8000
SDI_PGPORT ?= 5433
# Without DATABASE_URL from the caller, a project-local cluster is started (scripts/db.sh).
ifeq ($(origin DATABASE_URL),undefined)
DATABASE_URL := postgres://sdi:sdi@127.0.0.1:$(SDI_PGPORT)/sdi
SDI_LOCAL_DB := 1
endif
export DATABASE_URL SDI_PGPORT SDI_LOCAL_DB
PY := .venv/bin/python
CITY ?= kielce

.PHONY: run test setup db migrate load serve lint bench-setup clean-db audit docs-img

setup:
	scripts/bootstrap.sh

db: setup
	scripts/db.sh start

migrate: db
	$(PY) manage.py migrate --noinput
	$(PY) manage.py compilemessages --ignore=.venv -v 0
	$(PY) manage.py collectstatic --noinput -v 0

load: migrate
	$(PY) manage.py load_city $(CITY)
	$(PY) manage.py load_reports_config $(CITY)
	$(PY) manage.py compute_indicators

# gunicorn and one job worker (jobs); Ctrl-C stops both (scripts/serve.sh).
run: load
	@echo "City SDI on http://127.0.0.1:$(PORT)/  (admin: /admin/, OGC API: /ogc/, jobs: /api/jobs/<id>/)"
	PORT=$(PORT) PUBLIC_BASE_URL=$${PUBLIC_BASE_URL:-http://127.0.0.1:$(PORT)} scripts/serve.sh

test: db
	@# No basemap in tests: nothing may leave 127.0.0.1.
	$(PY) manage.py compilemessages --ignore=.venv -v 0
	.venv/bin/ruff check .
	BASEMAP_URL= .venv/bin/pytest $(PYTEST_ARGS)

lint: setup
	.venv/bin/ruff check .

# The README's screenshots, from the browser tests' last run (tests write only to artifacts/).
docs-img:
	cp artifacts/admin-map-editor-point.png artifacts/admin-map-editor-polygon.png docs/img/
	cp artifacts/discrepancy-explained.png docs/img/portal-discrepancy.png

# Dependency audit (pip-audit); says plainly when the vulnerability service is unreachable.
audit: setup
	.venv/bin/python scripts/audit.py

clean-db:
	-scripts/db.sh stop
	rm -rf var/pg var/pgrun
