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
  ApiForbiddenResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
} from '@nestjs/swagger';
import { AccountScope } from '../auth/account-scope';
import { CurrentScope } from '../auth/current-scope.decorator';
import { V1Controller } from '../auth/v1-controller.decorator';
import { CreateWebhookUseCase } from './create-webhook.use-case';
import { DeleteWebhookUseCase } from './delete-webhook.use-case';
import { FindWebhookUseCase } from './find-webhook.use-case';
import { GetWebhookStatsUseCase } from './get-webhook-stats.use-case';
import { ReplayWebhookUseCase } from './replay-webhook.use-case';
import { RotateWebhookSecretUseCase } from './rotate-webhook-secret.use-case';
import { UpdateWebhookUseCase } from './update-webhook.use-case';
import { WebhookStatsResponse } from './webhook-stats.response';
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

type Id = string;
const UuidParam = () => Param('id', new ParseUUIDPipe());

@V1Controller('webhooks')
@ApiNotFoundResponse({ description: 'No such webhook (or one of another account)' })
export class WebhooksController {
  constructor(
    private readonly createWebhook: CreateWebhookUseCase,
    private readonly findWebhook: FindWebhookUseCase,
    private readonly updateWebhook: UpdateWebhookUseCase,
    private readonly deleteWebhook: DeleteWebhookUseCase,
    private readonly rotateSecret: RotateWebhookSecretUseCase,
    private readonly replayWebhook: ReplayWebhookUseCase,
    private readonly stats: GetWebhookStatsUseCase,
  ) {}

  /** Subscribes a URL to an account's events. The answer carries the signing secret, once. */
  @Post()
  @ApiCreatedResponse({ type: WebhookWithSecretResponse })
  @ApiForbiddenResponse({ description: 'An account key creating a webhook for another account' })
  async create(
    @Body() request: CreateWebhookRequest,
    @CurrentScope() scope: AccountScope,
  ): Promise<WebhookWithSecretResponse> {
    return toWebhookWithSecret(await this.createWebhook.execute(request, scope));
  }

  /** The webhooks of an account (an account key: its own), oldest first. */
  @Get()
  @ApiOkResponse({ type: [WebhookResponse] })
  async list(
    @Query() query: ListWebhooksQuery,
    @CurrentScope() scope: AccountScope,
  ): Promise<WebhookResponse[]> {
    return (await this.findWebhook.list(scope, query.account_id)).map(toWebhookResponse);
  }

  /** One webhook, with its health: `enabled` and, when disabled, why. */
  @Get(':id')
  @ApiOkResponse({ type: WebhookResponse })
  async get(@UuidParam() id: Id, @CurrentScope() scope: AccountScope): Promise<WebhookResponse> {
    return toWebhookResponse(await this.findWebhook.show(id, scope));
  }

  /** Change the URL, types, description or headers; `enabled` pauses or resumes deliveries. */
  @Patch(':id')
  @ApiOkResponse({ type: WebhookResponse })
  async update(
    @UuidParam() id: Id,
    @Body() request: UpdateWebhookRequest,
    @CurrentScope() scope: AccountScope,
  ): Promise<WebhookResponse> {
    return toWebhookResponse(await this.updateWebhook.execute(id, request, scope));
  }

  /** Deletes the webhook; waiting deliveries are discarded, the history stays. */
  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse({ description: 'Deleted; waiting deliveries are discarded, history stays' })
  async remove(@UuidParam() id: Id, @CurrentScope() scope: AccountScope): Promise<void> {
    await this.deleteWebhook.execute(id, scope);
  }

  /** A new secret; the previous one keeps signing (a second signature) for 24 hours. */
  @Post(':id/rotate-secret')
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: WebhookWithSecretResponse })
  async rotate(
    @UuidParam() id: Id,
    @CurrentScope() scope: AccountScope,
  ): Promise<WebhookWithSecretResponse> {
    return toWebhookWithSecret(await this.rotateSecret.execute(id, scope));
  }

  /**
   * Sends the webhook's deliveries of a time window again (one manual attempt each), oldest
   * first and at most 10,000 per call: `next_since` says where to continue.
   */
  @Post(':id/replay')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiAcceptedResponse({ type: ReplayWebhookResponse })
  @ApiConflictResponse({ description: 'The webhook is disabled' })
  async replay(
    @UuidParam() id: Id,
    @Body() request: ReplayWebhookRequest,
    @CurrentScope() scope: AccountScope,
  ): Promise<ReplayWebhookResponse> {
    const { queued, nextSince } = await this.replayWebhook.execute(id, request, scope);
    return { queued, next_since: nextSince };
  }

  /** Deliveries by status, attempt success rate, last success and failure, over 24 hours. */
  @Get(':id/stats')
  @ApiOkResponse({ type: WebhookStatsResponse })
  getStats(
    @UuidParam() id: Id,
    @CurrentScope() scope: AccountScope,
  ): Promise<WebhookStatsResponse> {
    return this.stats.execute(id, scope);
  }
}
