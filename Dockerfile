# The app image: Streamlit UI on port 8501. docker-compose.yml runs it next to Elasticsearch.
FROM python:3.11-slim

# ffmpeg decodes mp3/m4a/opus; FluidSynth and a General MIDI SoundFont render the demo catalog.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg fluidsynth fluid-soundfont-gm \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Requirements first, so code changes do not reinstall torch.
COPY requirements.txt requirements-nodeps.txt ./
RUN pip install --no-cache-dir -r requirements.txt \
    && pip install --no-cache-dir --no-deps -r requirements-nodeps.txt
COPY . .
RUN pip install --no-cache-dir --no-deps -e .

ENV HUMSEARCH_DATA_DIR=/data \
    HUMSEARCH_MUSIC_DIRS=/music
EXPOSE 8501
CMD ["streamlit", "run", "streamlit_app.py", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true"]
