import { Injectable } from '@nestjs/common';
import pLimit from 'p-limit';
import { AppConfig } from '@libs/config';
import { AttemptGates, Slot } from './attempt-delivery.use-case';

/**
 * The worker's delivery slots for first attempts, shared by everything that makes them: the
 * Kafka lanes and the direct-mode lanes (a Kafka-mode worker drains both). WORKER_CONCURRENCY
 * requests under way at most (`send`), and as many deliveries again claimed and waiting for
 * a slot (`claim`, held through the request: see `AttemptDeliveryUseCase.executeFirst`).
 * Retries have slots of their own, so a backlog of first attempts never holds them back.
 */
@Injectable()
export class FirstAttemptSlots implements AttemptGates {
  readonly claim: Slot;
  readonly send: Slot;

  constructor(config: AppConfig) {
    const claims = pLimit(2 * config.delivery.concurrency);
    const sends = pLimit(config.delivery.concurrency);
    this.claim = (work) => claims(work);
    this.send = (work) => sends(work);
  }
}
