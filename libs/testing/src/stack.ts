import { Kafka, Partitioners } from 'kafkajs';
import { ApiClient } from './api-client';
import { AppProcess, ProcessExit } from './app-process';
import { IsolatedDatabase, createIsolatedDatabase } from './isolated-database';
import { testEnvironment } from './test-environment';

export interface RawEvent {
  id?: string;
  type: string;
  account_id: string;
  data: Record<string, unknown>;
}

/**
 * The api and the worker as separate processes, on the run's Kafka broker (a topic and
 * group of their own) and a database of their own: a worker's retry scheduler claims due
 * work from its whole database, so test files must not share one.
 */
export interface StackOptions {
  /** How the apps reach the database, e.g. through a TcpProxy for outage tests. */
  databaseUrlForApps?: (url: string) => string;
}

export class Stack {
  /** Workers started with `addWorker`, stopped with the stack. */
  private readonly extraWorkers: AppProcess[] = [];

  private constructor(
    readonly env: Record<string, string>,
    private readonly database: IsolatedDatabase,
    public apiProcess: AppProcess,
    public worker: AppProcess,
  ) {}

  /** The stack's own database, reached directly (not through `databaseUrlForApps`). */
  get databaseUrl(): string {
    return this.database.url;
  }

  static async start(
    overrides: Record<string, string> = {},
    options: StackOptions = {},
  ): Promise<Stack> {
    const database = await createIsolatedDatabase();
    const databaseUrl = options.databaseUrlForApps?.(database.url) ?? database.url;
    const env = testEnvironment({ DATABASE_URL: databaseUrl, ...overrides });
    // The api creates the topic; the worker then joins its group on an existing topic.
    const api = await AppProcess.start('api', env).catch(async (error: unknown) => {
      await database.drop();
      throw error;
    });
    try {
      const worker = await AppProcess.start('worker', env);
      return new Stack(env, database, api, worker);
    } catch (error) {
      await api.stop('SIGKILL');
      await database.drop();
      throw error;
    }
  }

  get api(): ApiClient {
    return new ApiClient(this.apiProcess.url);
  }

  /**
   * Writes events straight to the topic in one batch (keyed by account, as the api does), for
   * tests about the worker that must not depend on how fast the api answers one by one.
   */
  async produce(events: RawEvent[]): Promise<string[]> {
    const producer = new Kafka({ brokers: this.env.KAFKA_BROKERS.split(',') }).producer({
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    try {
      const stamped = events.map((event, index) => ({
        id: event.id ?? `evt-${Date.now()}-${index}-${Math.random().toString(36).slice(2, 8)}`,
        timestamp: new Date().toISOString(),
        ...event,
      }));
      await producer.send({
        topic: this.env.KAFKA_TOPIC,
        acks: -1,
        messages: stamped.map((event) => ({ key: event.account_id, value: JSON.stringify(event) })),
      });
      return stamped.map((event) => event.id);
    } finally {
      await producer.disconnect();
    }
  }

  /** Stops the worker gracefully and starts a new one in the same consumer group. */
  async restartWorker(): Promise<ProcessExit> {
    const exit = await this.worker.stop('SIGTERM');
    this.worker = await AppProcess.start('worker', this.env);
    return exit;
  }

  /**
   * Stops every app, then starts the api and one worker again with `overrides` added to the
   * environment: a configuration change rolled out (new ENCRYPTION_KEYS, say).
   */
  async restart(overrides: Record<string, string>): Promise<void> {
    const workers = [this.worker, ...this.extraWorkers.splice(0)];
    await Promise.all([...workers.map((worker) => worker.stop()), this.apiProcess.stop()]);
    Object.assign(this.env, overrides);
    this.apiProcess = await AppProcess.start('api', this.env);
    this.worker = await AppProcess.start('worker', this.env);
  }

  /** Starts one more worker in the same consumer group. */
  async addWorker(): Promise<AppProcess> {
    const worker = await AppProcess.start('worker', this.env);
    this.extraWorkers.push(worker);
    return worker;
  }

  async stop(): Promise<void> {
    const workers = [this.worker, ...this.extraWorkers];
    await Promise.all([...workers.map((worker) => worker.stop()), this.apiProcess.stop()]);
    await this.database.drop();
  }
}
