import { ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually } from './eventually';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..', '..');

export type AppName = 'api' | 'worker';

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A built app (`dist/apps/<name>/main.js`) running as its own process, as in production. */
export class AppProcess {
  private output = '';
  private frozen = false;
  private exited: Promise<ProcessExit>;

  private constructor(
    readonly name: AppName,
    readonly port: number,
    private readonly child: ChildProcess,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
  }

  /** Starts the app and waits until /health/ready answers 200. */
  static async start(name: AppName, env: Record<string, string>): Promise<AppProcess> {
    const app = await AppProcess.launch(name, env);
    const child = app.child;
    try {
      await eventually(
        async () => {
          if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`);
          const response = await fetch(`${app.url}/health/ready`);
          if (response.status !== 200) throw new Error(`${name} not ready: ${response.status}`);
        },
        { timeoutMs: 60_000, intervalMs: 200 },
      );
    } catch (error) {
      child.kill('SIGKILL');
      throw new Error(`${name} did not become ready: ${String(error)}\n${app.logs()}`);
    }
    return app;
  }

  /** Still running: neither exited nor killed (so never restarted behind the test's back). */
  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /**
   * Stops the process where it stands (SIGSTOP), as a long pause of its VM or its garbage
   * collector would: no timer fires, no socket is read, no heartbeat goes out, while its
   * connections stay open. `thaw` lets it run on.
   */
  freeze(): void {
    this.frozen = this.child.kill('SIGSTOP');
  }

  thaw(): void {
    if (this.frozen) this.child.kill('SIGCONT');
    this.frozen = false;
  }

  /** The app's resident memory, as `ps` sees it from outside (no load on the app itself). */
  async residentMemoryBytes(): Promise<number> {
    const { stdout } = await run('ps', ['-o', 'rss=', '-p', String(this.child.pid)]);
    return Number(stdout.trim()) * 1024;
  }

  /** The app's Prometheus text. */
  async metrics(): Promise<string> {
    return (await fetch(`${this.url}/metrics`)).text();
  }

  logs(): string {
    return this.output;
  }

  /**
   * Sends the signal and waits for the exit; SIGKILL follows after `timeoutMs`, so an exit
   * by SIGKILL means the app did not shut down by itself. (Nest re-raises SIGTERM once its
   * shutdown hooks are done, so a graceful stop ends "by SIGTERM".)
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<ProcessExit> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      // A frozen process would only handle the signal once thawed.
      this.thaw();
      this.child.kill(signal);
    }
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  /** Starts the app without waiting for it: for tests of apps that must not become ready. */
  static async launch(name: AppName, env: Record<string, string>): Promise<AppProcess> {
    const main = join(ROOT, 'dist', 'apps', name, 'main.js');
    if (!existsSync(main)) throw new Error(`${main} is missing: run "npm run build" first`);
    const port = await freePort();
    const portVariable = name === 'api' ? 'API_PORT' : 'WORKER_PORT';
    // Node's flags as `npm run start:<app>` gives them (the heap sizes the worker is deployed
    // with), plus APP_NODE_ARGS (space-separated), e.g. "--cpu-prof" for `npm run bench`.
    const extra = process.env.APP_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    const child = spawn(process.execPath, [...deployedNodeFlags(name), ...extra, main], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        LOG_LEVEL: 'warn',
        ...env,
        [portVariable]: String(port),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new AppProcess(name, port, child);
  }
}

/** The node flags of `npm run start:<app>` in package.json: the app runs as it is deployed. */
export function deployedNodeFlags(name: AppName): string[] {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  const command = manifest.scripts[`start:${name}`]?.split(/\s+/) ?? [];
  return command.filter((word) => word.startsWith('--'));
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
