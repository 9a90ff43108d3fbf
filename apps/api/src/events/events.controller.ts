import { Body, Get, HttpCode, HttpStatus, Param, Post } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiPayloadTooLargeResponse,
} from '@nestjs/swagger';
import { ExternalIdPipe } from '../common/external-id.pipe';
import { V1Controller } from '../auth/v1-controller.decorator';
import { EventResponse } from './event.response';
import { GetEventUseCase } from './get-event.use-case';
import { PublishEventRequest, PublishEventResponse } from './publish-event.request';
import { PublishEventUseCase } from './publish-event.use-case';

@V1Controller('events')
export class EventsController {
  constructor(
    private readonly publishEvent: PublishEventUseCase,
    private readonly getEvent: GetEventUseCase,
  ) {}

  /** Accepts an event once Kafka has it (acks=all); delivery happens asynchronously. */
  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiAcceptedResponse({ type: PublishEventResponse })
  @ApiPayloadTooLargeResponse({ description: 'Body larger than MAX_EVENT_BYTES' })
  async publish(@Body() request: PublishEventRequest): Promise<PublishEventResponse> {
    const event = await this.publishEvent.execute(request);
    return { id: event.id, status: 'accepted' };
  }

  @Get(':id')
  @ApiOkResponse({ type: EventResponse })
  @ApiNotFoundResponse({ description: 'No such event (or not consumed yet)' })
  get(@Param('id', ExternalIdPipe) id: string): Promise<EventResponse> {
    return this.getEvent.execute(id);
  }
}
