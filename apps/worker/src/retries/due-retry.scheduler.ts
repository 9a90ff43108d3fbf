import {
  BeforeApplicationShutdown,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { AppConfig } from '@libs/config';
import { AttemptDeliveryUseCase, ClaimDueAttemptsUseCase } from '@libs/delivery';

/**
 * Runs the attempts that do not come from Kafka: due retries, manual retries and replays,
 * and deliveries a dead worker left half done. Every worker pod runs one; the claim
 * (FOR UPDATE SKIP LOCKED) hands each delivery to one of them. Its slots are its own,
 * so retries never hold back first attempts of new events, nor the other way round.
 */
@Injectable()
export class DueRetryScheduler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(DueRetryScheduler.name);
  private readonly running = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private stopping = false;

  constructor(
    private readonly config: AppConfig,
    private readonly claimDue: ClaimDueAttemptsUseCase,
    private readonly attempts: AttemptDeliveryUseCase,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.poll(), this.config.delivery.retryPollIntervalMs);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    await this.polling;
    await Promise.all(this.running);
  }

  /** Fills the free slots with claimed deliveries; polls again at once while work keeps coming. */
  private poll(): Promise<void> {
    if (this.polling === null && !this.stopping) {
      this.polling = this.claimAndStart().finally(() => (this.polling = null));
    }
    return this.polling ?? Promise.resolve();
  }

  private async claimAndStart(): Promise<void> {
    try {
      const free = this.config.delivery.concurrency - this.running.size;
      const claimed = await this.claimDue.execute(free);
      for (const delivery of claimed) {
        const attempt = this.attempts
          .execute(delivery)
          .then(() => undefined)
          .catch((error: unknown) =>
            // The lease runs out and another poll takes the delivery up again.
            this.logger.error(`Attempt of delivery ${delivery.id} failed: ${String(error)}`),
          )
          .finally(() => {
            this.running.delete(attempt);
            if (claimed.length === free) void this.poll();
          });
        this.running.add(attempt);
      }
    } catch (error) {
      this.logger.warn(`Polling for due retries failed: ${String(error)}`);
    }
  }
}
