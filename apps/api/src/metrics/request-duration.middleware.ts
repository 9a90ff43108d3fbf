import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { ApiMetrics } from './api-metrics';

/**
 * Times every request, labelled with the route pattern (`/v1/webhooks/:id`, never the raw
 * path, which would explode the label set); unmatched paths share one label.
 */
@Injectable()
export class RequestDurationMiddleware implements NestMiddleware {
  constructor(private readonly metrics: ApiMetrics) {}

  use(request: Request, response: Response, next: NextFunction): void {
    const started = process.hrtime.bigint();
    response.on('finish', () => {
      const route: unknown = request.route?.path;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.metrics.requestServed(
        request.method,
        typeof route === 'string' ? route : 'unmatched',
        response.statusCode,
        seconds,
      );
    });
    next();
  }
}
