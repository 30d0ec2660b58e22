# webtext on Ray: one image for the Ray head, the workers, the crawl driver and training.
FROM python:3.11-slim

ARG EXTRAS=""
# EXTRAS=train installs torch (a CUDA build from PyPI) for the GPU `train` service.
ENV PYTHONUNBUFFERED=1 RAY_USAGE_STATS_ENABLED=0

RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc g++ libxml2-dev libxslt1-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY webtext ./webtext
COPY pipelines ./pipelines
COPY dedup ./dedup
COPY configs ./configs
RUN pip install --no-cache-dir -e ".${EXTRAS:+[$EXTRAS]}"

# run outputs live on a volume shared by every container (./data on the host)
VOLUME ["/app/data"]
CMD ["webtext", "--help"]
