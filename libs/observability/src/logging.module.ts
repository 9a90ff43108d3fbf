import { Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { Level } from 'pino';
import { AppConfig } from '@libs/config';

/** Requests that are not logged: the probes, which would drown everything else. */
export function isProbeRequest(url: string | undefined): boolean {
  return /^\/(health|metrics)/.test(url ?? '');
}

/** The level of a request's log line: a failure is an error, a refusal a warning. */
export function requestLogLevel(statusCode: number, failed = false): Level {
  if (failed || statusCode >= 500) return 'error';
  return statusCode >= 400 ? 'warn' : 'info';
}

/**
 * Structured JSON logs (pino) at LOG_LEVEL, the Authorization header redacted wherever a
 * request is logged.
 *
 * pino-http's middleware is not mounted in either app: the api writes its request lines from a
 * Fastify hook (logRequests), and the worker's HTTP port serves only the probes and metrics,
 * which are never logged. The middleware would give every request a child logger and an
 * AsyncLocalStorage context; on Node 20, entering such a context once turns on promise hooks
 * for the rest of the process, so a single health probe made every promise of the worker's
 * hot path pay for async-context tracking (measured: the worker's CPU per delivery in a drain fell by about a tenth without it).
 */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        pinoHttp: { level: config.logLevel, redact: ['req.headers.authorization'] },
        forRoutes: [],
      }),
    }),
  ],
})
export class LoggingModule {}
