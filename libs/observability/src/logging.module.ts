import { DynamicModule, Module } from '@nestjs/common';
import { LoggerModule, Params } from 'nestjs-pino';
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

function loggerParams(config: AppConfig, requestMiddleware: boolean): Params {
  return {
    pinoHttp: {
      level: config.logLevel,
      autoLogging: { ignore: (request) => isProbeRequest(request.url) },
      redact: ['req.headers.authorization'],
      customLogLevel: (_request, response, error) =>
        requestLogLevel(response.statusCode, Boolean(error)),
    },
    // No route: pino-http's middleware is never mounted; its logger is still the root one.
    ...(requestMiddleware ? {} : { forRoutes: [] }),
  };
}

/**
 * Structured JSON logs (pino), with a line per request from pino-http's middleware (see
 * requestLogLevel and isProbeRequest).
 */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => loggerParams(config, true),
    }),
  ],
})
export class LoggingModule {
  /**
   * The same logs, for an app that writes the request lines itself (the api, from a Fastify
   * hook): the middleware would cost every request a child logger, its serialised bindings
   * and an AsyncLocalStorage context, logged or not.
   */
  static withoutRequestMiddleware(): DynamicModule {
    return {
      module: AppLoggingModule,
      imports: [
        LoggerModule.forRootAsync({
          inject: [AppConfig],
          useFactory: (config: AppConfig) => loggerParams(config, false),
        }),
      ],
    };
  }
}

@Module({})
class AppLoggingModule {}
