import type { OpenAPIObject } from '@nestjs/swagger';

/**
 * Routes that take no key. They say so with an explicit empty `security`, so a reader (and
 * `redocly lint`) can tell "public on purpose" from "forgot to document the auth".
 * /metrics comes from the Prometheus module, whose controller carries no documentation.
 */
const PUBLIC_OPERATIONS: Record<string, { summary: string }> = {
  '/health/live': { summary: 'The process is up and serving' },
  '/health/ready': { summary: 'Postgres answers, and Kafka too unless in direct mode' },
  '/metrics': { summary: 'Prometheus metrics, in the text exposition format' },
};

export function markPublicOperations(document: OpenAPIObject): OpenAPIObject {
  for (const [path, { summary }] of Object.entries(PUBLIC_OPERATIONS)) {
    const operation = document.paths[path]?.get;
    if (operation === undefined) continue;
    operation.summary ??= summary;
    operation.security = [];
  }
  return document;
}
