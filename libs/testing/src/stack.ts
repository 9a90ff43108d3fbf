import { ApiClient } from './api-client';
import { AppProcess, ProcessExit } from './app-process';
import { testEnvironment } from './test-environment';

/** The api and the worker as separate processes over the run's Kafka and Postgres. */
export class Stack {
  private constructor(
    readonly env: Record<string, string>,
    readonly apiProcess: AppProcess,
    public worker: AppProcess,
  ) {}

  static async start(overrides: Record<string, string> = {}): Promise<Stack> {
    const env = testEnvironment(overrides);
    // The api creates the topic; the worker then joins its group on an existing topic.
    const api = await AppProcess.start('api', env);
    try {
      const worker = await AppProcess.start('worker', env);
      return new Stack(env, api, worker);
    } catch (error) {
      await api.stop('SIGKILL');
      throw error;
    }
  }

  get api(): ApiClient {
    return new ApiClient(this.apiProcess.url);
  }

  /** Stops the worker gracefully and starts a new one in the same consumer group. */
  async restartWorker(): Promise<ProcessExit> {
    const exit = await this.worker.stop('SIGTERM');
    this.worker = await AppProcess.start('worker', this.env);
    return exit;
  }

  async stop(): Promise<void> {
    await Promise.all([this.worker.stop(), this.apiProcess.stop()]);
  }
}
