# syntax=docker/dockerfile:1
# Build a static binary, then run it as a non-root user on a minimal image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/bot ./cmd/bot \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bot /bot
# The data directory belongs to the non-root user (uid 65532) so the job store can be written.
COPY --from=build --chown=65532:65532 /out/data /data
# Jobs survive restarts in DATA_DIR: mount a volume here.
ENV DATA_DIR=/data HTTP_ADDR=:8080
VOLUME ["/data"]
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/bot"]
