import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '@libs/config';
import { RetentionRepository } from '@libs/persistence';

const BATCH_SIZE = 500;
const PAUSE_BETWEEN_BATCHES_MS = 50;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface PurgeResult {
  events: number;
  idempotencyKeys: number;
  /** False when another worker was purging already. */
  ran: boolean;
}

/**
 * Deletes events older than RETENTION_DAYS with their deliveries and attempts, in small
 * batches with pauses, so neither locks nor I/O get in the way of deliveries. One worker at
 * a time (an advisory lock); the others skip the round.
 */
@Injectable()
export class PurgeExpiredHistoryUseCase {
  private readonly logger = new Logger(PurgeExpiredHistoryUseCase.name);

  constructor(
    private readonly retention: RetentionRepository,
    private readonly config: AppConfig,
  ) {}

  async execute(shouldStop: () => boolean = () => false): Promise<PurgeResult> {
    const result: PurgeResult = { events: 0, idempotencyKeys: 0, ran: false };
    const cutoff = new Date(Date.now() - this.config.retention.days * DAY_MS);
    result.ran = await this.retention.withExclusiveLock(async () => {
      for (;;) {
        const deleted = await this.retention.deleteEventsBatch(cutoff, BATCH_SIZE);
        result.events += deleted;
        if (deleted < BATCH_SIZE || shouldStop()) break;
        await new Promise((resolve) => setTimeout(resolve, PAUSE_BETWEEN_BATCHES_MS));
      }
      result.idempotencyKeys = await this.retention.deleteExpiredIdempotencyKeys();
    });
    if (result.events > 0) {
      this.logger.log(
        `Deleted ${result.events} events older than ${cutoff.toISOString()} with their deliveries`,
      );
    }
    return result;
  }
}
