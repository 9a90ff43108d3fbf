import { Get, HttpCode, HttpStatus, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiConflictResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
} from '@nestjs/swagger';
import { AccountScope } from '../auth/account-scope';
import { CurrentScope } from '../auth/current-scope.decorator';
import { V1Controller } from '../auth/v1-controller.decorator';
import { DeliveryPageResponse, DeliveryWithAttemptsResponse } from './delivery.response';
import { GetDeliveryUseCase } from './get-delivery.use-case';
import { ListDeliveriesQuery } from './list-deliveries.query';
import { ListDeliveriesUseCase } from './list-deliveries.use-case';
import { RetryDeliveryUseCase } from './retry-delivery.use-case';

@V1Controller('deliveries')
export class DeliveriesController {
  constructor(
    private readonly listDeliveries: ListDeliveriesUseCase,
    private readonly getDelivery: GetDeliveryUseCase,
    private readonly retryDelivery: RetryDeliveryUseCase,
  ) {}

  /**
   * The delivery history, newest first, 50 a page by default (at most 100). Pages are
   * keyset-paginated: deliveries arriving meanwhile never shift or repeat later pages.
   */
  @Get()
  @ApiOkResponse({ type: DeliveryPageResponse })
  list(
    @Query() query: ListDeliveriesQuery,
    @CurrentScope() scope: AccountScope,
  ): Promise<DeliveryPageResponse> {
    return this.listDeliveries.execute(query, scope);
  }

  /** One delivery with every attempt. */
  @Get(':id')
  @ApiOkResponse({ type: DeliveryWithAttemptsResponse })
  @ApiNotFoundResponse({ description: 'No such delivery' })
  get(
    @Param('id', new ParseUUIDPipe()) id: string,
    @CurrentScope() scope: AccountScope,
  ): Promise<DeliveryWithAttemptsResponse> {
    return this.getDelivery.execute(id, scope);
  }

  /** One manual attempt now (trigger `manual`); scheduled retries stay as they are. */
  @Post(':id/retry')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiAcceptedResponse({ description: 'The attempt is queued; a worker makes it within a second' })
  @ApiNotFoundResponse({ description: 'No such delivery' })
  @ApiConflictResponse({ description: 'An attempt of this delivery is under way' })
  async retry(
    @Param('id', new ParseUUIDPipe()) id: string,
    @CurrentScope() scope: AccountScope,
  ): Promise<{ status: 'queued' }> {
    await this.retryDelivery.execute(id, scope);
    return { status: 'queued' };
  }
}
