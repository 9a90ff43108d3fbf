import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * True when `pid` is a live process. With a `marker`, the process's command line must also
 * contain it (checked where /proc exists), so a stale pid file whose number the OS has since
 * given to an unrelated process is not mistaken for ours.
 */
export function isAlive(pid: number, marker?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (marker === undefined) return true;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker);
  } catch {
    return process.platform !== 'linux';
  }
}

export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

/** SIGTERM, then SIGKILL if the process is still there after `graceMs`. */
export async function terminate(pid: number, graceMs: number): Promise<void> {
  if (!sendSignal(pid, 'SIGTERM')) return;
  if (await waitForExit(pid, graceMs)) return;
  sendSignal(pid, 'SIGKILL');
  await waitForExit(pid, 5_000);
}

/** False when the process was already gone. */
export function sendSignal(pid: number, name: NodeJS.Signals): boolean {
  try {
    process.kill(pid, name);
    return true;
  } catch {
    return false;
  }
}

/** Stops a child we spawned; resolves once it has exited (at once if it already had). */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export async function readPidFile(file: string): Promise<number | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export async function tailFile(file: string, lines: number): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * Ports the OS reports free right now. All servers are held open together so the ports differ
 * from each other; another process could still take one before we use it, which is unlikely
 * enough for a test run.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i += 1) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
      ports.push((server.address() as AddressInfo).port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

export interface CommandResult {
  code: number;
  output: string;
}

/** Runs a command to completion, collecting stdout and stderr together. */
export function runCommand(
  command: string,
  args: string[],
  options: SpawnOptions = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', (error) => reject(explainSpawnError(command, error)));
    child.once('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

/** Runs a command with the terminal attached; rejects unless it exits with 0. */
export function runInherited(
  command: string,
  args: string[],
  options: SpawnOptions = {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: 'inherit' });
    child.once('error', (error) => reject(explainSpawnError(command, error)));
    child.once('close', (code, signalName) =>
      code === 0
        ? resolve()
        : reject(
            new Error(`${command} ${args.join(' ')} failed (${signalName ?? `exit ${code}`})`),
          ),
    );
  });
}

export function explainSpawnError(command: string, error: Error): Error {
  if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
    return new Error(`'${command}' was not found on PATH`);
  }
  return error;
}

/**
 * Release steps, run once in reverse order of registration. A step added while the release is
 * under way still runs, so something that finished starting during shutdown is stopped too.
 */
export class Cleanup {
  private readonly steps: Array<() => Promise<void>> = [];
  private running?: Promise<void>;

  add(step: () => Promise<void>): void {
    this.steps.push(step);
  }

  run(): Promise<void> {
    this.running ??= this.runAll();
    return this.running;
  }

  private async runAll(): Promise<void> {
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      try {
        await step();
      } catch (error) {
        console.error(`cleanup: ${errorMessage(error)}`);
      }
    }
  }
}

/**
 * Calls `onSignal` on the first SIGINT, SIGTERM or SIGHUP. A second one, two seconds or more
 * later, exits at once, for the user who does not want to wait for a graceful stop.
 */
export function onShutdownSignal(onSignal: (signal: NodeJS.Signals) => void): void {
  let firstAt: number | undefined;
  for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(name, () => {
      if (firstAt === undefined) {
        firstAt = Date.now();
        onSignal(name);
        return;
      }
      // One Ctrl-C arrives twice: from the terminal to the process group, and forwarded by
      // npm. Only a second press, later, means "stop waiting".
      if (Date.now() - firstAt < SIGNAL_ECHO_MS) return;
      console.error(`\nReceived ${name} again: exiting without waiting.`);
      process.exit(signalExitCode(name));
    });
  }
}

const SIGNAL_ECHO_MS = 2_000;

/** The shell's convention for a process ended by a signal. */
export function signalExitCode(name: NodeJS.Signals): number {
  return 128 + (os.constants.signals[name] ?? 0);
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A fresh temp folder, removed by `cleanup`. */
export async function temporaryDir(cleanup: Cleanup, prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `${prefix}-`));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
