import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Client } from 'pg';
import { DataSource } from 'typeorm';

/** The Postgres channel on which an api says that a direct-mode lane opened. */
export const DIRECT_WORK_CHANNEL = 'webhook_direct_work';

const RECONNECT_BACKOFF_MS = [500, 1000, 2000, 5000];

/**
 * The api's nudge to idle workers when an account's lane opens, so a first attempt does not
 * wait for their next poll. Only a hint: workers poll anyway, so a lost nudge costs latency,
 * never an event. At most one NOTIFY is in flight (each takes Postgres's global notify lock at
 * commit); requests meanwhile fold into one more after it.
 */
@Injectable()
export class DirectWorkNotifier {
  private inFlight = false;
  private again = false;

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  notify(): void {
    if (this.inFlight) {
      this.again = true;
      return;
    }
    this.inFlight = true;
    this.again = false;
    void this.dataSource
      .query(`SELECT pg_notify($1, '')`, [DIRECT_WORK_CHANNEL])
      .catch(() => undefined)
      .finally(() => {
        this.inFlight = false;
        if (this.again) this.notify();
      });
  }
}

/**
 * The worker's ear for those nudges: one connection of its own (LISTEN holds a session), opened
 * again after a failure. While it is down the worker still finds new lanes by polling.
 */
export class DirectWorkListener {
  private readonly logger = new Logger(DirectWorkListener.name);
  private client: Client | null = null;
  private closed = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly databaseUrl: string,
    private readonly onWork: () => void,
  ) {}

  start(): void {
    void this.connect();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new Client({
      connectionString: this.databaseUrl,
      application_name: 'kafka-webhooks-listener',
      connectionTimeoutMillis: 5000,
      keepAlive: true,
    });
    client.on('notification', () => this.onWork());
    // 'error' and 'end' both come for one loss: the first one schedules the reconnect.
    const lost = (error?: Error) => {
      if (this.client !== client) return;
      this.client = null;
      void client.end().catch(() => undefined);
      this.reconnectLater(error);
    };
    client.on('error', lost);
    client.on('end', () => lost());
    this.client = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${DIRECT_WORK_CHANNEL}`);
      if (this.failures > 0) this.logger.log('Listening for direct-mode work again');
      this.failures = 0;
      // Work may have come while nobody listened.
      this.onWork();
    } catch (error) {
      lost(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private reconnectLater(error?: Error): void {
    if (this.closed) return;
    if (this.failures === 0) {
      this.logger.warn(
        `Not listening for direct-mode work (${error?.message ?? 'connection closed'}); ` +
          'polling meanwhile',
      );
    }
    const delay = RECONNECT_BACKOFF_MS[Math.min(this.failures, RECONNECT_BACKOFF_MS.length - 1)];
    this.failures += 1;
    this.retryTimer = setTimeout(() => void this.connect(), delay);
  }
}
