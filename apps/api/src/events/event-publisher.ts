import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { ClientKafka } from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';
import { AppConfig } from '@libs/config';
import { EVENT_HEADERS, WebhookEventMessage, serializeEvent } from '@libs/contracts';

export const EVENTS_PRODUCER = Symbol('EVENTS_PRODUCER');

/** Writes events to the topic, keyed by account so each account's events stay in order. */
@Injectable()
export class EventPublisher implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(EVENTS_PRODUCER) private readonly client: ClientKafka,
    private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.client.connect();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.client.close();
  }

  /** Resolves once every in-sync replica has the event (acks=all). */
  async publish(event: WebhookEventMessage): Promise<void> {
    // Always the {key, value} envelope: a bare object with a `key` field would be taken for one.
    await lastValueFrom(
      this.client.emit(this.config.kafka.topic, {
        key: event.account_id,
        value: serializeEvent(event),
        headers: {
          [EVENT_HEADERS.eventType]: event.type,
          [EVENT_HEADERS.contentType]: 'application/json',
        },
      }),
    );
  }
}
