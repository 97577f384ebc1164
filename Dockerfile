# One image, several roles (web, worker, beat, flower) — see docker-compose.yml.
# Runs as the unprivileged user `app`, which owns every path it writes (/app/var: logs,
# static files, the filesystem broker when no Redis is configured).
FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    CONTACT_SYNC_VAR_DIR=/app/var LOG_DIR=/app/var/log
WORKDIR /app
RUN useradd --create-home --uid 10001 app
# Only what production runs (requirements-dev.lock is for development and CI).
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock
COPY --chown=app:app . .
RUN mkdir -p /app/var/log /app/var/static /app/var/broker && chown -R app:app /app/var
USER app
# Static files are part of the image (WhiteNoise serves them); no secret is needed for it.
RUN DJANGO_DEBUG=1 python manage.py collectstatic --noinput -v0
EXPOSE 8000
CMD ["gunicorn", "syncapp.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "60"]
