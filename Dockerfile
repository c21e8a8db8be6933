# siembridge: a static binary on a small Alpine base, run as a non-root user.
#
#   docker build -t siembridge:local .
#   docker run --rm -v $PWD/siembridge.yaml:/etc/siembridge/siembridge.yaml:ro siembridge:local
#
# Alpine rather than distroless/static: the compose healthcheck needs
# busybox wget to call /healthz (the image is still about 15 MB).

FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/siembridge ./cmd/siembridge

FROM alpine:3.20
RUN addgroup -S -g 10001 siembridge && adduser -S -D -H -u 10001 -G siembridge siembridge
COPY --from=build /out/siembridge /usr/local/bin/siembridge
USER 10001:10001
# metrics.listen must bind 0.0.0.0:9108 inside a container to be reachable.
EXPOSE 9108
ENTRYPOINT ["/usr/local/bin/siembridge"]
CMD ["run", "--config", "/etc/siembridge/siembridge.yaml"]
