# mesh-cni's image: the plugin (/mesh-cni), its installer (/installer) and
# the admission webhook (/webhook), three static binaries on an empty base. Without Docker, the same image is
# written by `go run ./cmd/mkimage -o mesh-cni-image.tar`.
#
#   docker build -t ghcr.io/mesh-cni/mesh-cni:dev .
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETARCH
RUN for cmd in mesh-cni installer webhook; do \
      CGO_ENABLED=0 GOOS=linux GOARCH=${TARGETARCH:-amd64} \
        go build -trimpath -ldflags="-s -w" -o /out/$cmd ./cmd/$cmd || exit 1; \
    done

FROM scratch
# One COPY, so that the image has one layer holding exactly the three binaries.
COPY --from=build --chmod=0755 /out/ /
ENTRYPOINT ["/installer"]
