# widget-server's image, built from the wheel that `make dist` makes (static files, templates, the built loader
# and daily-js are inside it): a virtualenv without pip, run as a non-root user, meant for a read-only root file
# system with only /var/lib/widget-server (the SQLite state) writable. docs/deploy.md tells how to run it.
#
#   make dist && docker build -t widget-server .
#   make image                       # podman, on a base made here with mmdebstrap (no registry needed)
ARG BASE=docker.io/library/python:3.11-slim-bookworm

FROM ${BASE} AS build
COPY dist/ /dist/
# With a wheelhouse (dist/wheels/, as `make image` makes) no package index is asked; pip leaves the venv after use.
RUN if [ -d /dist/wheels ]; then index="--no-index --find-links /dist/wheels"; else index=""; fi \
 && python3 -m venv /opt/widget-server \
 && /opt/widget-server/bin/pip install --no-cache-dir --disable-pip-version-check --quiet $index \
      /dist/widget_server-*.whl \
 && /opt/widget-server/bin/pip uninstall --quiet --yes pip setuptools \
 && /opt/widget-server/bin/widget-server --version

FROM ${BASE}
ARG VERSION=unknown
ARG REVISION=unknown
LABEL org.opencontainers.image.title="widget-server" \
      org.opencontainers.image.description="Self-hosted server and embed kit for face-to-face AI video conversations" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.documentation="docs/deploy.md"
RUN groupadd --system --gid 10001 widget-server \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/widget-server --no-create-home \
      --shell /usr/sbin/nologin widget-server \
 && mkdir -p /var/lib/widget-server /etc/widget-server \
 && chown widget-server:widget-server /var/lib/widget-server && chmod 0750 /var/lib/widget-server
COPY --from=build /opt/widget-server /opt/widget-server
ENV PATH=/opt/widget-server/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    WIDGET_SERVER_HOST=0.0.0.0 \
    WIDGET_SERVER_PORT=8000
WORKDIR /var/lib/widget-server
VOLUME /var/lib/widget-server
USER 10001:10001
EXPOSE 8000
# Ready (not merely alive): a process that cannot serve is taken out of rotation. Port from the same variable.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ['WIDGET_SERVER_PORT'], timeout=2)"]
ENTRYPOINT ["widget-server"]
CMD ["serve", "--log-format", "json"]
