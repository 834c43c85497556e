# syntax=docker/dockerfile:1
# Build stage: compile TypeScript with dev dependencies.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

# Runtime stage: production deps + compiled JS only, as the unprivileged `node` user.
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --chown=node:node package.json ./
# /lora is the compose file's shared adapter volume: a named volume takes the image directory's owner,
# so it must exist and belong to `node` here or the worker cannot copy adapters into it (EACCES).
RUN mkdir -p /data /lora && chown node:node /data /lora
ENV EVALHOOK_DATA_DIR=/data
USER node
EXPOSE 8080
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["all"]
