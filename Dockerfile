# One node of a raft-cqrs sample app (APP=order or APP=chat), run from the compiled JavaScript.
#
#   docker build --build-arg APP=chat -t raft-cqrs-chat .
#   docker run -e NODE_ID=n1 -e MEMBERS=n1=http://127.0.0.1:3000 -e CLUSTER_SECRET=... -p 3000:3000 raft-cqrs-chat
#
# The node is configured by the SPEC's environment variables (NODE_ID, PORT, HOST, MEMBERS or JOIN,
# DATA_DIR, CLUSTER_SECRET, ELECTION_TIMEOUT_MS, HEARTBEAT_MS, COMPACTION_THRESHOLD; ADVERTISE_URL for
# a node that joins with JOIN). docker-compose.yml runs three of each app.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: all dependencies, then `npm run build` (tsc -p tsconfig.build.json -> dist/)
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# tsc needs no install scripts (they only fetch or build native helpers of dev tools).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY libs ./libs
COPY apps ./apps
RUN npm run build

# ---- production dependencies only
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# ---- runtime
FROM ${NODE_IMAGE} AS runtime
ARG APP=order
ENV NODE_ENV=production \
    APP=${APP} \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /src/dist/libs ./dist/libs
COPY --from=build /src/dist/apps/${APP} ./dist/apps/${APP}
# The page: the apps look for public/ next to their compiled src/ or under the working directory.
COPY apps/${APP}/public ./apps/${APP}/public
COPY apps/${APP}/public ./dist/apps/${APP}/public
# The module's cluster view, read next to the compiled library.
COPY libs/raft-cluster/ui ./dist/libs/raft-cluster/ui
# tsc keeps the path aliases of tsconfig.json ("@raft-cqrs/raft", "@raft-cqrs/raft/*",
# "@raft-cqrs/raft-cluster") as they are in the emitted require() calls; these links make Node resolve
# them to the compiled libraries.
RUN mkdir -p node_modules/@raft-cqrs \
 && ln -s ../../dist/libs/raft/src node_modules/@raft-cqrs/raft \
 && ln -s ../../dist/libs/raft-cluster/src node_modules/@raft-cqrs/raft-cluster \
 && test -f "dist/apps/${APP}/src/main.js" \
 && mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
  CMD node -e "require('http').get('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/ready',r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"
# SIGTERM: the node hands leadership over and flushes its storage before it exits.
STOPSIGNAL SIGTERM
CMD ["sh", "-c", "exec node dist/apps/${APP}/src/main.js"]
