import { Controller } from '@nestjs/common';
import { Ctx, EventPattern, KafkaContext } from '@nestjs/microservices';
import { kafkaTopicFromEnvironment } from '@libs/config';
import { EventDispatcher } from './event-dispatcher';

/**
 * The Kafka handler. The Nest transport subscribes to the topics named by the patterns,
 * and decorators are evaluated before the configuration is loaded, so the topic name is
 * read on its own here.
 */
@Controller()
export class EventsConsumer {
  constructor(private readonly dispatcher: EventDispatcher) {}

  @EventPattern(kafkaTopicFromEnvironment())
  async onEvent(@Ctx() context: KafkaContext): Promise<void> {
    await this.dispatcher.dispatch(context);
  }
}
