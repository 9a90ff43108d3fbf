import {
  BeforeApplicationShutdown,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { PurgeExpiredHistoryUseCase } from '@libs/delivery';

/** Hourly, plus once a minute after start-up (not during it, when the worker has more to do). */
const FIRST_RUN_DELAY_MS = 60_000;
const INTERVAL_MS = 60 * 60 * 1000;

@Injectable()
export class RetentionScheduler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(RetentionScheduler.name);
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  private stopping = false;

  constructor(private readonly purge: PurgeExpiredHistoryUseCase) {}

  onApplicationBootstrap(): void {
    this.timer = setTimeout(() => this.runAndReschedule(), FIRST_RUN_DELAY_MS);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private runAndReschedule(): void {
    this.running = this.purge
      .execute(() => this.stopping)
      .then(() => undefined)
      .catch((error: unknown) => this.logger.warn(`Retention run failed: ${String(error)}`))
      .finally(() => {
        if (!this.stopping) this.timer = setTimeout(() => this.runAndReschedule(), INTERVAL_MS);
      });
  }
}
