# dripfleet — one image for every service (web, dagster-webserver, dagster-daemon, migrate,
# device-host). Two Python environments, because neonize needs protobuf 7 and Dagster protobuf 6
# (shared/notes/neonize.md): /opt/venv (app: Flask, Dagster) and /opt/venv-neonize (device host).
# The runtime image carries ffmpeg/ffprobe, which neonize needs to send videos.

FROM python:3.11-slim AS source
WORKDIR /app
COPY pyproject.toml README.md ./
COPY dripfleet ./dripfleet
COPY pipelines ./pipelines
COPY device_host ./device_host
COPY webhooks ./webhooks
COPY webapp ./webapp
COPY sql ./sql
COPY dagster.yaml workspace.yaml Procfile ./

# editable installs: the code stays in /app, so sql/ and the templates are found beside it
FROM source AS app-env
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/venv/bin/pip install --no-cache-dir -e '.[app]'

FROM source AS neonize-env
RUN python -m venv /opt/venv-neonize \
 && /opt/venv-neonize/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/venv-neonize/bin/pip install --no-cache-dir -e '.[neonize]'

FROM python:3.11-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 dripfleet
WORKDIR /app
COPY --from=source /app /app
COPY --from=app-env /opt/venv /opt/venv
COPY --from=neonize-env /opt/venv-neonize /opt/venv-neonize
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/home/dripfleet/dagster \
    DATA_DIR=/home/dripfleet/data
USER dripfleet
EXPOSE 8000 3000 8001
# the web app by default; every other service names its own command (compose, Railway)
CMD ["sh", "-c", "exec gunicorn -c python:webapp.gunicorn_conf --bind [::]:${PORT:-8000} --workers ${WEB_CONCURRENCY:-2} webapp.wsgi:app"]
