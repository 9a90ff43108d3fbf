import { Injectable } from '@nestjs/common';
import pLimit from 'p-limit';
import { AppConfig } from '@libs/config';
import { AttemptGates, Slot } from './attempt-delivery.use-case';

/**
 * Deliveries claimed (waiting for a send slot, or sending) per send slot. A claim is a round
 * trip to Postgres: with too few of them ahead, the slots wait for claims (2 per slot gave
 * a quarter fewer deliveries per second in `npm run bench` than 4); with many, claims wait
 * for slots, and past its lease's margin a claim is given back (`executeFirst`).
 */
const CLAIMS_PER_SEND_SLOT = 4;

/**
 * The worker's delivery slots for first attempts, shared by everything that makes them: the
 * Kafka lanes and the direct-mode lanes (a Kafka-mode worker drains both). WORKER_CONCURRENCY
 * requests under way at most (`send`), and more deliveries claimed and waiting for a slot
 * (`claim`, held through the request: see `AttemptDeliveryUseCase.executeFirst`).
 * Retries have slots of their own, so a backlog of first attempts never holds them back.
 */
@Injectable()
export class FirstAttemptSlots implements AttemptGates {
  readonly claim: Slot;
  readonly send: Slot;

  constructor(config: AppConfig) {
    const claims = pLimit(CLAIMS_PER_SEND_SLOT * config.delivery.concurrency);
    const sends = pLimit(config.delivery.concurrency);
    this.claim = (work) => claims(work);
    this.send = (work) => sends(work);
  }
}
