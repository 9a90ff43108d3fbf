import { Kafka, Partitioners } from 'kafkajs';
import { ApiClient } from './api-client';
import { AppProcess, ProcessExit } from './app-process';
import { IsolatedDatabase, createIsolatedDatabase } from './isolated-database';
import { DeliveryModeName, directModeEnvironment, testEnvironment } from './test-environment';

export interface RawEvent {
  id?: string;
  type: string;
  account_id: string;
  data: Record<string, unknown>;
}

/**
 * The api and the worker as separate processes, on the run's Kafka broker (a topic and
 * group of their own; none at all in direct mode) and a database of their own: a worker's
 * retry scheduler claims due work from its whole database, so test files must not share one.
 */
export interface StackOptions {
  /** How the apps reach the database, e.g. through a TcpProxy for outage tests. */
  databaseUrlForApps?: (url: string) => string;
  /** DELIVERY_MODE of the apps [kafka]; direct-mode apps get no Kafka setting at all. */
  mode?: DeliveryModeName;
}

export class Stack {
  /** Apps started with `addWorker` and `addApi`, stopped with the stack. */
  private readonly extraApps: AppProcess[] = [];

  private constructor(
    readonly env: Record<string, string>,
    readonly mode: DeliveryModeName,
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
    const mode = options.mode ?? 'kafka';
    const database = await createIsolatedDatabase();
    const databaseUrl = options.databaseUrlForApps?.(database.url) ?? database.url;
    const env = testEnvironment({ DATABASE_URL: databaseUrl, ...overrides }, mode);
    // The api creates the topic; the worker then joins its group on an existing topic.
    const api = await AppProcess.start('api', env).catch(async (error: unknown) => {
      await database.drop();
      throw error;
    });
    try {
      const worker = await AppProcess.start('worker', env);
      return new Stack(env, mode, database, api, worker);
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
    if (this.mode === 'direct') {
      throw new Error('a direct-mode stack has no topic: publish through the api (publishInOrder)');
    }
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
   * Publishes through POST /v1/events, each account's events one after another (the next once
   * the previous was accepted, which defines their order in direct mode) and up to `parallel`
   * accounts side by side. Returns the accepted ids in the order of `events`.
   */
  async publishInOrder(events: RawEvent[], api = this.api, parallel = 8): Promise<string[]> {
    const ids = new Array<string>(events.length);
    const byAccount = new Map<string, number[]>();
    events.forEach((event, index) => {
      byAccount.set(event.account_id, [...(byAccount.get(event.account_id) ?? []), index]);
    });
    const accounts = [...byAccount.values()];
    const publishAccount = async (indexes: number[]) => {
      for (const index of indexes) {
        const answer = await api.post<{ id: string }>('/v1/events', events[index]);
        if (answer.status !== 202) {
          throw new Error(`publishing answered ${answer.status}: ${JSON.stringify(answer.body)}`);
        }
        ids[index] = answer.body.id;
      }
    };
    const lanes = Array.from({ length: Math.min(parallel, accounts.length) }, async () => {
      for (let next = accounts.shift(); next; next = accounts.shift()) await publishAccount(next);
    });
    await Promise.all(lanes);
    return ids;
  }

  /**
   * Stops every app, then starts the api and one worker again with `overrides` added to the
   * environment: a configuration change rolled out (new ENCRYPTION_KEYS, say).
   */
  async restart(overrides: Record<string, string>): Promise<void> {
    const apps = [this.worker, this.apiProcess, ...this.extraApps.splice(0)];
    await Promise.all(apps.map((app) => app.stop()));
    Object.assign(this.env, overrides);
    this.apiProcess = await AppProcess.start('api', this.env);
    this.worker = await AppProcess.start('worker', this.env);
  }

  /** Starts one more worker on the same database (and consumer group, in kafka mode). */
  async addWorker(mode: DeliveryModeName = this.mode): Promise<AppProcess> {
    const worker = await AppProcess.start('worker', this.envIn(mode));
    this.extraApps.push(worker);
    return worker;
  }

  /** Starts one more api on the same database, e.g. a direct-mode one beside a Kafka-mode stack. */
  async addApi(mode: DeliveryModeName = this.mode): Promise<AppProcess> {
    const api = await AppProcess.start('api', this.envIn(mode));
    this.extraApps.push(api);
    return api;
  }

  async stop(): Promise<void> {
    const apps = [this.worker, this.apiProcess, ...this.extraApps];
    await Promise.all(apps.map((app) => app.stop()));
    await this.database.drop();
  }

  private envIn(mode: DeliveryModeName): Record<string, string> {
    if (mode === this.mode) return this.env;
    if (mode === 'direct') return directModeEnvironment(this.env);
    throw new Error('a direct-mode stack has no Kafka settings to start a Kafka-mode app with');
  }
}
