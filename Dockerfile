# filegate: one image for every part (api, worker, beat, flower); the command picks the part.
#   docker build -t filegate .
#   docker run --rm -p 8000:8000 -e FILEGATE_REDIS_URL=redis://… filegate          # the API
#   docker run --rm -e FILEGATE_REDIS_URL=redis://… filegate worker -Q downloads   # a worker
# compose.yaml runs them all; docs/operations.md explains them.

# Build stage: filegate and its runtime dependencies (with Flower, no dev tools), exactly as
# pinned with their hashes in requirements/run.txt (make lock), in a venv that the final stage
# copies whole, so no pip cache or build leftovers reach the image.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/filegate
WORKDIR /build
COPY requirements/run.txt ./requirements/run.txt
RUN /opt/filegate/bin/pip install --require-hashes -r requirements/run.txt
COPY pyproject.toml ./
COPY src ./src
RUN /opt/filegate/bin/pip install --no-deps .

FROM python:3.11-slim
# Inside a container the API must listen on every interface to be reachable through the
# published port; FILEGATE_PUBLIC_URL still says where clients reach it.
ENV PATH=/opt/filegate/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FILEGATE_HOST=0.0.0.0 \
    FILEGATE_PORT=8000 \
    FILEGATE_LOG_FORMAT=json \
    FILEGATE_LOCAL_ROOT=/var/lib/filegate/files \
    FILEGATE_OUTPUT_DIR=/var/lib/filegate/archives
RUN groupadd --system --gid 10001 filegate \
    && useradd --system --uid 10001 --gid filegate --home-dir /var/lib/filegate --shell /usr/sbin/nologin filegate \
    && mkdir -p /var/lib/filegate/files /var/lib/filegate/archives \
    && chown -R filegate:filegate /var/lib/filegate
COPY --from=build /opt/filegate /opt/filegate
# The working directory is writable: Celery beat keeps its schedule file here, and a .env
# here would be read at start-up (the environment is the usual way in a container).
WORKDIR /var/lib/filegate
USER filegate
# 8000: the API; 5555: Flower.
EXPOSE 8000 5555
# No HEALTHCHECK here: the same image runs workers and beat, which serve no HTTP; compose.yaml
# gives each service its own check.
ENTRYPOINT ["filegate"]
CMD ["api"]
