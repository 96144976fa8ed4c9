# syntax=docker/dockerfile:1

# packyard's container image: `packyard serve`, a registry for packs.
#
#   docker build -t packyard \
#     --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg COMMIT=$(git rev-parse --short HEAD) \
#     --build-arg DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) .
#   docker run -p 5000:5000 -v packyard-data:/var/lib/packyard packyard
#
# Needs BuildKit (the default builder of Docker 23 and later) for the cache
# mounts. docs/deploy.md says how to run it and how to configure it.

ARG GO_VERSION=1.26

# The builder runs on the build machine's platform and cross-compiles for the
# target's, so that `docker buildx build --platform linux/amd64,linux/arm64`
# needs no emulation.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS
ARG TARGETARCH
# What `packyard version` reports: the Makefile's VERSION, COMMIT and DATE.
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath \
      -ldflags "-X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${DATE}" \
      -o /out/packyard ./cmd/packyard
# The data folder, made here because the runtime image has no shell: a volume
# mounted on it starts with its owner, the nonroot user.
RUN mkdir -p /out/data

# distroless static: CA certificates, tzdata and a nonroot user (65532), and
# nothing else. No shell, so no HEALTHCHECK: Docker runs a health check
# inside the container, and there is neither curl nor wget to run. Probe GET
# /health on port 5000 from outside instead (Kubernetes probes, a load
# balancer's health check); it answers {"status":"UP"}.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/packyard /usr/local/bin/packyard
COPY --from=build --chown=65532:65532 /out/data /var/lib/packyard
USER 65532:65532
# 5000: the registry. 5001: the debug server with the Prometheus metrics at
# /metrics, when it is turned on: `serve ... --debug-addr 0.0.0.0:5001`, or
# http.debug.addr and http.debug.prometheus.enabled in a --config file.
EXPOSE 5000 5001
VOLUME ["/var/lib/packyard"]
ENTRYPOINT ["packyard"]
CMD ["serve", "--addr", "0.0.0.0:5000", "--data", "/var/lib/packyard"]
