# Flightdeck on SQLite in one container (the demo setup). For PostgreSQL, set
# FLIGHTDECK_DATABASE_URL; deploy/docker-compose.yml will add the worker and a database.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
RUN useradd --create-home flightdeck && mkdir -p data && chown flightdeck data
USER flightdeck

EXPOSE 8501
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health')"
CMD ["sh", "-c", "python cli.py init-db && python cli.py demo --if-empty && exec streamlit run app.py --server.port 8501 --server.address 0.0.0.0 --server.headless true --browser.gatherUsageStats false"]
