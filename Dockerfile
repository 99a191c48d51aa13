# Wattgate gateway image: `docker build -t wattgate .` then
# `docker run -p 4000:4000 -e OPENAI_API_KEY -e WATTGATE_MASTER_KEY wattgate`.
# The `providers` extra (litellm) is installed: Anthropic, Gemini, Bedrock... deployments work.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A plain (non-editable) install: the migrations ship inside the package.
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY estimators ./estimators
COPY proxy ./proxy
COPY migrations ./migrations
RUN pip install '.[providers]' \
    && rm -rf /src \
    && useradd --system --uid 10001 --home-dir /data --create-home wattgate

WORKDIR /data
USER wattgate
ENV WATTGATE_HOST=0.0.0.0 \
    WATTGATE_PORT=4000 \
    WATTGATE_DATABASE_URL=sqlite+aiosqlite:////data/wattgate.db \
    WATTGATE_SPOOL_PATH=/data/wattgate-spool.jsonl
VOLUME ["/data"]
EXPOSE 4000

# The slim image has no curl; Python is already there.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('WATTGATE_PORT', '4000'), timeout=2)"]

CMD ["wattgate", "serve"]
