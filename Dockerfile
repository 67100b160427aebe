# Images of the four binaries; pick one with --target:
#   docker build --target manager   -t ghcr.io/sprechzimmer/manager .
#   docker build --target signaling -t ghcr.io/sprechzimmer/signaling .
#   docker build --target frontdoor -t ghcr.io/sprechzimmer/frontdoor .
#   docker build --target turn      -t ghcr.io/sprechzimmer/turn .
# All run as non-root on distroless static, with a read-only root filesystem.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ENV CGO_ENABLED=0
RUN go build -trimpath -ldflags "-s -w" -o /out/ ./cmd/manager ./cmd/signaling ./cmd/frontdoor ./cmd/turn

FROM gcr.io/distroless/static:nonroot AS manager
COPY --from=build /out/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]

FROM gcr.io/distroless/static:nonroot AS signaling
COPY --from=build /out/signaling /signaling
USER 65532:65532
ENTRYPOINT ["/signaling"]

FROM gcr.io/distroless/static:nonroot AS frontdoor
COPY --from=build /out/frontdoor /frontdoor
USER 65532:65532
ENTRYPOINT ["/frontdoor"]

FROM gcr.io/distroless/static:nonroot AS turn
COPY --from=build /out/turn /turn
USER 65532:65532
ENTRYPOINT ["/turn"]
