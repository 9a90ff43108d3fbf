import { Get, Param, ParseUUIDPipe, Query } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOkResponse } from '@nestjs/swagger';
import { V1Controller } from '../auth/v1-controller.decorator';
import { DeliveryPageResponse, DeliveryWithAttemptsResponse } from './delivery.response';
import { GetDeliveryUseCase } from './get-delivery.use-case';
import { ListDeliveriesQuery } from './list-deliveries.query';
import { ListDeliveriesUseCase } from './list-deliveries.use-case';

@V1Controller('deliveries')
export class DeliveriesController {
  constructor(
    private readonly listDeliveries: ListDeliveriesUseCase,
    private readonly getDelivery: GetDeliveryUseCase,
  ) {}

  /** The delivery history, newest first, 50 a page by default (at most 100). */
  @Get()
  @ApiOkResponse({ type: DeliveryPageResponse })
  list(@Query() query: ListDeliveriesQuery): Promise<DeliveryPageResponse> {
    return this.listDeliveries.execute(query);
  }

  /** One delivery with every attempt. */
  @Get(':id')
  @ApiOkResponse({ type: DeliveryWithAttemptsResponse })
  @ApiNotFoundResponse({ description: 'No such delivery' })
  get(@Param('id', new ParseUUIDPipe()) id: string): Promise<DeliveryWithAttemptsResponse> {
    return this.getDelivery.execute(id);
  }
}
