# One image per service: docker build --build-arg SERVICE=cart -t kugel/cart .
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY kugel_common ./kugel_common
# What the services import: create_app (fastapi), uvicorn (in the sidecar extra), /metrics
# (metrics) and the OpenTelemetry API (otel).
# The application's own OpenTelemetry SDK and OTLP exporter (services/_otel.py), which
# kugel_common leaves to applications: the same lower bounds as pyproject.toml's dev.
RUN pip install --no-cache-dir --prefix=/install ".[fastapi,sidecar,metrics,otel]" \
    "opentelemetry-sdk>=1.35.0" "opentelemetry-exporter-otlp-proto-http>=1.35.0"

FROM ${PYTHON_IMAGE}
ARG SERVICE
ENV SERVICE=${SERVICE} PORT=8000 PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN useradd --create-home --uid 10001 kugel && mkdir /data && chown kugel /data
COPY --from=build /install /usr/local
COPY services /app/services
WORKDIR /app
USER 10001
# No secrets here: API keys, the JWT secret and the Dapr tokens come from the environment.
CMD ["sh", "-c", "exec python -m uvicorn --factory services.${SERVICE}.app:build --host 0.0.0.0 --port ${PORT}"]
