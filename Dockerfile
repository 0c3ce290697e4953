# The cohortstream worker for production: talks to Kafka, a ClickHouse server,
# PostgreSQL and Redis by URL (see docker-compose.yml). The embedded local stack
# (the [local] extra) is not installed here.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cohortstream ./cohortstream
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    COHORTSTREAM_STATE_DIR=/var/lib/cohortstream \
    WEB_PORT=6066
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --system --home-dir /var/lib/cohortstream --create-home cohortstream
USER cohortstream
WORKDIR /var/lib/cohortstream
EXPOSE 6066
ENTRYPOINT ["cohortstream"]
CMD ["worker"]
