import {
  Body,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  ParseUUIDPipe,
  Patch,
  Post,
  Query,
} from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
} from '@nestjs/swagger';
import { V1Controller } from '../auth/v1-controller.decorator';
import { CreateWebhookUseCase } from './create-webhook.use-case';
import { DeleteWebhookUseCase } from './delete-webhook.use-case';
import { FindWebhookUseCase } from './find-webhook.use-case';
import { ReplayWebhookUseCase } from './replay-webhook.use-case';
import { RotateWebhookSecretUseCase } from './rotate-webhook-secret.use-case';
import { UpdateWebhookUseCase } from './update-webhook.use-case';
import {
  CreateWebhookRequest,
  ListWebhooksQuery,
  ReplayWebhookRequest,
  ReplayWebhookResponse,
  UpdateWebhookRequest,
} from './webhook.request';
import {
  WebhookResponse,
  WebhookWithSecretResponse,
  toWebhookResponse,
  toWebhookWithSecret,
} from './webhook.response';

@V1Controller('webhooks')
@ApiNotFoundResponse({ description: 'No such webhook' })
export class WebhooksController {
  constructor(
    private readonly createWebhook: CreateWebhookUseCase,
    private readonly findWebhook: FindWebhookUseCase,
    private readonly updateWebhook: UpdateWebhookUseCase,
    private readonly deleteWebhook: DeleteWebhookUseCase,
    private readonly rotateSecret: RotateWebhookSecretUseCase,
    private readonly replayWebhook: ReplayWebhookUseCase,
  ) {}

  /** Subscribes a URL to an account's events. The answer carries the signing secret, once. */
  @Post()
  @ApiCreatedResponse({ type: WebhookWithSecretResponse })
  async create(@Body() request: CreateWebhookRequest): Promise<WebhookWithSecretResponse> {
    return toWebhookWithSecret(await this.createWebhook.execute(request));
  }

  @Get()
  @ApiOkResponse({ type: [WebhookResponse] })
  async list(@Query() query: ListWebhooksQuery): Promise<WebhookResponse[]> {
    return (await this.findWebhook.list(query.account_id)).map(toWebhookResponse);
  }

  @Get(':id')
  @ApiOkResponse({ type: WebhookResponse })
  async get(@Param('id', new ParseUUIDPipe()) id: string): Promise<WebhookResponse> {
    return toWebhookResponse(await this.findWebhook.execute(id));
  }

  @Patch(':id')
  @ApiOkResponse({ type: WebhookResponse })
  async update(
    @Param('id', new ParseUUIDPipe()) id: string,
    @Body() request: UpdateWebhookRequest,
  ): Promise<WebhookResponse> {
    return toWebhookResponse(await this.updateWebhook.execute(id, request));
  }

  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse({ description: 'Deleted; its delivery history stays' })
  async remove(@Param('id', new ParseUUIDPipe()) id: string): Promise<void> {
    await this.deleteWebhook.execute(id);
  }

  /** A new secret; the previous one keeps signing (a second signature) for 24 hours. */
  @Post(':id/rotate-secret')
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: WebhookWithSecretResponse })
  async rotate(@Param('id', new ParseUUIDPipe()) id: string): Promise<WebhookWithSecretResponse> {
    return toWebhookWithSecret(await this.rotateSecret.execute(id));
  }

  /** Sends the webhook's deliveries of a time window again (one manual attempt each). */
  @Post(':id/replay')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiAcceptedResponse({ type: ReplayWebhookResponse })
  @ApiConflictResponse({ description: 'The webhook is disabled' })
  async replay(
    @Param('id', new ParseUUIDPipe()) id: string,
    @Body() request: ReplayWebhookRequest,
  ): Promise<ReplayWebhookResponse> {
    return { queued: await this.replayWebhook.execute(id, request) };
  }
}
