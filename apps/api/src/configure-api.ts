import { INestApplication, ValidationPipe } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { AppConfig } from '@libs/config';
import { HttpErrorFilter } from './common/http-error.filter';
import { JsonDepthPipe } from './common/json-depth.pipe';
import { answerMalformedRequestsWithJson } from './common/malformed-http.handler';
import { markPublicOperations } from './common/openapi-document';

/** Everything main.ts applies to the app besides listening: validation, errors, body limit, docs. */
export function configureApi(app: NestExpressApplication, config: AppConfig): INestApplication {
  app.useBodyParser('json', { limit: config.http.maxEventBytes });
  app.useGlobalPipes(
    new JsonDepthPipe(),
    new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }),
  );
  app.useGlobalFilters(new HttpErrorFilter());
  answerMalformedRequestsWithJson(app.getHttpServer());
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
