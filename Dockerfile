# One image with the binaries: avatar-api, avatar-worker and the avatar-import client.
FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake nasm pkg-config libde265-dev libdav1d-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin avatar-api --bin avatar-worker --bin avatar-import

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libde265-0 libdav1d6 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 avatars
COPY --from=build /src/target/release/avatar-api /src/target/release/avatar-worker /src/target/release/avatar-import /usr/local/bin/
RUN install -d -o avatars -g avatars /var/lib/avatars
USER avatars
# Reachable from outside the container; local storage (without
# AVATARS_S3_BUCKET) in a directory the service user may write.
ENV AVATARS_LISTEN=0.0.0.0:8080 \
    AVATARS_DATA_DIR=/var/lib/avatars
EXPOSE 8080
CMD ["avatar-api"]
