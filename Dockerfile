# syntax=docker/dockerfile:1
# The whycache image: the CLI (which is also the node agent, `whycache agent`)
# and the operator, static, on distroless (CA certificates, /etc/passwd with
# the nonroot user 65532, no shell). `make docker-build IMG=...` builds it;
# `make image-rootfs` builds the same filesystem without a container engine
# (hack/imagerootfs), and test/image checks that the two list the same files.

# GO_VERSION follows go.mod's go directive (test/image checks it).
ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
# Set by BuildKit, podman and buildah for the platform being built (no
# default here: a default would win over theirs in a multi-platform build).
ARG TARGETOS
ARG TARGETARCH
# VERSION is what `whycache --version` prints; the Makefile passes
# `git describe`, since .git is not part of the build context.
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
# timetzdata: the operator reads CRON_TZ zones without relying on the
# image's /usr/share/zoneinfo.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -buildvcs=false -tags timetzdata \
      -ldflags "-s -w -X github.com/whycache/whycache/internal/version.Version=${VERSION}" \
      -o /out/ ./cmd/whycache ./cmd/whycache-operator

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/whycache /usr/local/bin/whycache
COPY --from=build /out/whycache-operator /usr/local/bin/whycache-operator
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/whycache"]
