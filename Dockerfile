# One node of a raft-cqrs sample app (APP=order or APP=chat), run from the compiled JavaScript.
#
#   docker build --build-arg APP=chat -t raft-cqrs-chat .
#   docker run -e NODE_ID=n1 -e MEMBERS=n1=http://127.0.0.1:3000 -e CLUSTER_SECRET=... -p 3000:3000 raft-cqrs-chat
#
# The node is configured by the SPEC's environment variables (NODE_ID, PORT, HOST, MEMBERS or JOIN,
# DATA_DIR, CLUSTER_SECRET, ELECTION_TIMEOUT_MS, HEARTBEAT_MS, COMPACTION_THRESHOLD; ADVERTISE_URL for
# a node that joins with JOIN). docker-compose.yml runs three of each app.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: all dependencies, then `npm run build` (tsc -b: each package into its dist/, then the app)
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
COPY libs/raft/package.json ./libs/raft/
COPY libs/raft-cluster/package.json ./libs/raft-cluster/
# tsc needs no install scripts (they only fetch or build native helpers of dev tools).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.base.json tsconfig.build.json ./
COPY libs ./libs
COPY apps ./apps
COPY tools ./tools
RUN npm run build

# ---- production dependencies only; node_modules/@raft-cqrs/* are the workspace links to libs/*
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY libs/raft/package.json ./libs/raft/
COPY libs/raft-cluster/package.json ./libs/raft-cluster/
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# ---- runtime: the two packages as npm would install them (package.json, dist/, ui/) and the compiled app
FROM ${NODE_IMAGE} AS runtime
ARG APP=order
ENV NODE_ENV=production \
    APP=${APP} \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=prod-deps /app/package.json ./
COPY libs/raft/package.json ./libs/raft/
COPY --from=build /src/libs/raft/dist ./libs/raft/dist
COPY libs/raft-cluster/package.json ./libs/raft-cluster/
COPY --from=build /src/libs/raft-cluster/dist ./libs/raft-cluster/dist
COPY libs/raft-cluster/ui ./libs/raft-cluster/ui
COPY --from=build /src/apps/${APP}/dist ./apps/${APP}/dist
COPY apps/${APP}/public ./apps/${APP}/public
RUN test -f "apps/${APP}/dist/main.js" \
 && mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
  CMD node -e "require('http').get('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/ready',r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"
# SIGTERM: the node hands leadership over and flushes its storage before it exits.
STOPSIGNAL SIGTERM
CMD ["sh", "-c", "exec node apps/${APP}/dist/main.js"]
