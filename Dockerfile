# chorus: multi-stage build, non-root runtime, data in the /data volume.
#   docker build --build-arg GIT_SHA=$(git rev-parse --short=12 HEAD) -t chorus .
#   docker run -p 8080:8080 -v chorus-data:/data chorus
# The defaults are compiled into the binary. To change keys, mount a TOML
# file at /etc/chorus/chorus.toml (read by every command when present) or set
# CHORUS__SECTION__KEY variables; secrets only ever as variables.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# .git is not in the build context: pass the commit for GET /version.
ARG GIT_SHA=unknown
ENV CHORUS_GIT_SHA=$GIT_SHA
COPY . .
RUN cargo build --release --locked --bin chorus

FROM debian:bookworm-slim
# ca-certificates: TLS to model providers; curl: the health check. Not
# pinned: the slim image's security updates replace old versions.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin chorus \
    && mkdir -p /data && chown chorus:chorus /data
COPY --from=build /src/target/release/chorus /usr/local/bin/chorus
COPY docker/entrypoint.sh /usr/local/bin/chorus-entrypoint
ENV CHORUS__SERVER__BIND=0.0.0.0:8080 \
    CHORUS__STORE__DATA_DIR=/data \
    CHORUS__LOG__FORMAT=json
VOLUME ["/data"]
USER 10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["curl", "-fsS", "http://127.0.0.1:8080/live"]
ENTRYPOINT ["chorus-entrypoint"]
CMD ["serve"]
