# nf-secret-source container image, on Node.js 24 LTS (the product's runtime; package.json's
# engines lists what else is supported).
#
#   docker build -t nf-secret-source .
#   docker run --rm -p 8080:8080 -p 9090:9090 -e NF_JWT_SECRET="$(openssl rand -base64 48)" \
#     -v "$PWD/config.yaml:/etc/nf-secret-source/config.yaml:ro" --read-only nf-secret-source
#
# - build:   dev dependencies + `npm run build` (TypeScript -> dist/)
# - deps:    production dependencies only (`npm ci --omit=dev`)
# - runtime: node_modules from deps, dist/ from build, nothing else of the source tree;
#            runs as the base image's `node` user (uid/gid 1000), writes nothing to disk
#            (logs go to stdout), so `--read-only` / readOnlyRootFilesystem works; no shell
#            is needed at run time (exec-form ENTRYPOINT: node is PID 1 and gets SIGTERM,
#            which the service handles itself: /readyz fails, in-flight requests finish, exit 0).
#
# Config: /etc/nf-secret-source/config.yaml (the default one serves the demo data in
# /app/examples/secrets; mount your own over it), `${env:...}` references in it, and
# NFSS__SECTION__KEY overrides from the environment. The JWT secret comes from NF_JWT_SECRET.
#
# scripts/test-image.sh builds this file with podman and checks the running image in CI.
# For reproducible production builds, pin the base image by digest
# (FROM node:24-bookworm-slim@sha256:...) in all three stages.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && rm -rf dist/bench

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# No production dependency has an install script; --ignore-scripts keeps it that way.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Everything is owned by root and only readable by the service's user: it cannot change its own code.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY examples ./examples
COPY deploy/examples/docker/config.yaml /etc/nf-secret-source/config.yaml
USER 1000:1000
# Public port (the secret route, the only one Northflank needs) and ops port (/healthz, /readyz, /metrics).
EXPOSE 8080 9090
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["serve", "--config", "/etc/nf-secret-source/config.yaml"]
