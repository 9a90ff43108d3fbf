import fastifyStatic from '@fastify/static';
import { INestApplication, ValidationPipe } from '@nestjs/common';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { networkInterfaces } from 'node:os';
import { AppConfig } from '@libs/config';
import { HttpErrorFilter } from './common/http-error.filter';
import { acceptJsonBodies } from './common/json-body.parser';
import { JsonDepthPipe } from './common/json-depth.pipe';
import {
  answerMalformedRequestWithJson,
  answerUnroutableRequestWithJson,
} from './common/malformed-http.handler';
import { markPublicOperations } from './common/openapi-document';
import { logRequests } from './common/request-log.hook';
import { ApiMetrics } from './metrics/api-metrics';
import { timeRequests } from './metrics/request-duration.hook';

/**
 * The api's HTTP server: Fastify, which serves about twice the requests of Express per CPU
 * second. Routes match as they did on Express: case-insensitive, a trailing slash ignored,
 * and a path parameter as long as the request line allows (Fastify's default of 100
 * characters would answer 414 for a valid 128-character event id).
 */
export function apiHttpAdapter(config: AppConfig): FastifyAdapter {
  return new FastifyAdapter({
    bodyLimit: config.http.maxEventBytes,
    clientErrorHandler: answerMalformedRequestWithJson,
    frameworkErrors: answerUnroutableRequestWithJson,
    routerOptions: {
      caseSensitive: false,
      ignoreTrailingSlash: true,
      maxParamLength: MAX_HEADER_BYTES,
    },
    // The api has no Nest middleware (its request hooks are Fastify's): middie's hook would
    // run on every request for nothing, and a middleware added later fails at start-up.
    skipMiddie: true,
  });
}

/**
 * Where the api listens: every interface, IPv6 and IPv4 on one dual-stack socket, as Node (and
 * so Express) listens by default; IPv4 only on a machine without IPv6. Fastify alone would
 * take localhost only.
 */
export function everyInterface(): string {
  const addresses = Object.values(networkInterfaces()).flat();
  return addresses.some((address) => address?.family === 'IPv6') ? '::' : '0.0.0.0';
}

/** Node's limit on a request's head, request line included (--max-http-header-size). */
const MAX_HEADER_BYTES = 16 * 1024;

/** Everything main.ts applies to the app besides listening: validation, errors, bodies, logs, docs. */
export function configureApi(app: NestFastifyApplication, config: AppConfig): INestApplication {
  const fastify = app.getHttpAdapter().getInstance();
  acceptJsonBodies(fastify, config.http.maxEventBytes);
  logRequests(fastify);
  timeRequests(fastify, app.get(ApiMetrics));
  // reply.sendFile, for the console's files; it serves no route of its own.
  void fastify.register(fastifyStatic, { serve: false });
  app.useGlobalPipes(
    new JsonDepthPipe(),
    new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }),
  );
  app.useGlobalFilters(new HttpErrorFilter());
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Kafka Webhooks API')
      .setDescription('Publish events, manage webhook subscriptions, read the delivery history.')
      .setVersion('1')
      .setLicense('MIT', 'https://opensource.org/licenses/MIT')
      .addServer('/', 'This api')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'ADMIN_API_KEY' })
      .build(),
  );
  SwaggerModule.setup('docs', app, markPublicOperations(document), {
    jsonDocumentUrl: 'docs-json',
  });
  return app;
}
