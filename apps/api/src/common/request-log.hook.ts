import type { FastifyInstance } from 'fastify';
import { PinoLogger } from 'nestjs-pino';
import { isProbeRequest, requestLogLevel } from '@libs/observability';

/**
 * A log line per request, as pino-http wrote it when the api ran on Express ("request
 * completed", with `req`, `res` and `responseTime`; the Authorization header redacted), at
 * info for a success, warn for a 4xx, error for a 5xx; the probes are not logged. Nothing is
 * built for a line below LOG_LEVEL: at `warn` a success costs a level check.
 */
export function logRequests(fastify: FastifyInstance): void {
  fastify.addHook('onResponse', (request, reply, done) => {
    const status = reply.statusCode;
    const level = requestLogLevel(status);
    // The root logger of nestjs-pino: LOG_LEVEL, the serialisers and the redaction.
    const logger = PinoLogger.root;
    if (logger.isLevelEnabled(level) && !isProbeRequest(request.url)) {
      const line = { req: request, res: reply.raw, responseTime: Math.round(reply.elapsedTime) };
      if (status >= 500) {
        logger[level](
          { ...line, err: new Error(`failed with status code ${status}`) },
          'request errored',
        );
      } else {
        logger[level](line, 'request completed');
      }
    }
    done();
  });
}
