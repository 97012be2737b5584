# syntax=docker/dockerfile:1
# One static binary (no cgo: SQLite is pure Go), plus workerd for the local edge.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/402claw ./cmd/402claw && mkdir -p /out/data && chmod 0700 /out/data

# workerd runs tenants' code when no Cloudflare account is configured.
FROM node:20-bookworm-slim AS workerd
WORKDIR /opt/edge
COPY package.json package-lock.json ./
# The npm package's launcher is a symlink; copy the native binary it points to.
RUN npm ci --no-audit --no-fund && cd node_modules/.bin && cp "$(readlink -f workerd)" /opt/edge/claw-workerd

# distroless/cc carries the glibc and libstdc++ that workerd links against.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/402claw /usr/local/bin/402claw
COPY --from=workerd /opt/edge/claw-workerd /usr/local/bin/claw-workerd
COPY --from=build --chown=nonroot:nonroot /out/data /data
ENV CLAW_ADDR=0.0.0.0:8080 \
    CLAW_EDGE_ADDR=0.0.0.0:8787 \
    CLAW_DATA_DIR=/data \
    CLAW_WORKERD_PATH=/usr/local/bin/claw-workerd
VOLUME /data
EXPOSE 8080 8787
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/402claw"]
CMD ["serve"]
