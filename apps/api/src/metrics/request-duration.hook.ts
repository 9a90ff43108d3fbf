import type { FastifyInstance } from 'fastify';
import { ApiMetrics } from './api-metrics';

/**
 * Times every request, labelled with the route pattern (`/v1/webhooks/:id`, never the raw
 * path, which would explode the label set); unmatched paths share one label.
 */
export function timeRequests(fastify: FastifyInstance, metrics: ApiMetrics): void {
  fastify.addHook('onResponse', (request, reply, done) => {
    metrics.requestServed(
      request.method,
      request.is404 ? 'unmatched' : (request.routeOptions.url ?? 'unmatched'),
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
    done();
  });
}
