# The llmobs image the manifests in exporters/kubernetes run (ghcr.io/llmobs/llmobs:VERSION):
#   docker build -t ghcr.io/llmobs/llmobs:0.1.0 .
FROM python:3.11-slim
RUN useradd --uid 65532 --create-home llmobs
WORKDIR /src
COPY pyproject.toml README.md ./
COPY llmobs ./llmobs
RUN pip install --no-cache-dir . && rm -rf /src
USER 65532
EXPOSE 9400
ENTRYPOINT ["llmobs"]
CMD ["exporter", "--help"]
