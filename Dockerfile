# The voipagency application image: the same image serves the one-shot `migrate` step and the
# stateless `web` processes of docker-compose.yml.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml piccolo_conf.py README.md ./
COPY core ./core
COPY agency ./agency
COPY money ./money
COPY accounts ./accounts
COPY cards ./cards
COPY support ./support
COPY web ./web
RUN pip install --no-cache-dir . && useradd --system --home /app voipagency
USER voipagency
EXPOSE 8000
CMD ["voipagency", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "4", "--no-migrate"]
