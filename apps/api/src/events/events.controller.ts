import { Body, Get, Headers, HttpCode, HttpStatus, Param, Post, Query, Req } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiConflictResponse,
  ApiForbiddenResponse,
  ApiHeader,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiPayloadTooLargeResponse,
} from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { AccountScope } from '../auth/account-scope';
import { CurrentScope } from '../auth/current-scope.decorator';
import { V1Controller } from '../auth/v1-controller.decorator';
import { ExternalIdPipe } from '../common/external-id.pipe';
import { dataAsSent } from './data-as-sent';
import { EventResponse } from './event.response';
import { GetEventQuery } from './get-event.query';
import { GetEventUseCase } from './get-event.use-case';
import { checkedIdempotencyKey } from './idempotency-key';
import { PublishEventRequest, PublishEventResponse } from './publish-event.request';
import { PublishEventUseCase } from './publish-event.use-case';

@V1Controller('events')
export class EventsController {
  constructor(
    private readonly publishEvent: PublishEventUseCase,
    private readonly getEvent: GetEventUseCase,
  ) {}

  /** Accepts an event once Kafka (in direct mode: Postgres) has it; delivery is asynchronous. */
  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description:
      'The same key within 24 hours answers with the first event id and publishes nothing',
  })
  @ApiAcceptedResponse({ type: PublishEventResponse })
  @ApiForbiddenResponse({ description: 'An account key publishing for another account' })
  @ApiPayloadTooLargeResponse({ description: 'Body larger than MAX_EVENT_BYTES' })
  async publish(
    @Body() request: PublishEventRequest,
    @CurrentScope() scope: AccountScope,
    @Req() httpRequest: FastifyRequest,
    @Headers('idempotency-key') idempotencyKey?: string,
  ): Promise<PublishEventResponse> {
    request.data = dataAsSent(httpRequest, request.data);
    const id = await this.publishEvent.execute(
      request,
      scope,
      checkedIdempotencyKey(idempotencyKey),
    );
    return { id, status: 'accepted' };
  }

  /** The stored event and its deliveries; 404 until a worker has consumed it. */
  @Get(':id')
  @ApiOkResponse({ type: EventResponse })
  @ApiNotFoundResponse({ description: 'No such event (or not consumed yet)' })
  @ApiConflictResponse({ description: 'Several accounts used this id: name one with account_id' })
  get(
    @Param('id', new ExternalIdPipe()) id: string,
    @Query() query: GetEventQuery,
    @CurrentScope() scope: AccountScope,
  ): Promise<EventResponse> {
    return this.getEvent.execute(id, scope, query.account_id);
  }
}
