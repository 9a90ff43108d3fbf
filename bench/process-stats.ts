/**
 * Resource figures read from Linux's /proc: the worker's peak RSS and the CPU each part of the
 * pipeline used per phase, which is what tells where the bottleneck is.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** /proc reports CPU time in USER_HZ ticks, which Linux fixes at 100 per second for userspace. */
const TICKS_PER_SECOND = 100;

export interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
  cmdline: string;
  /** User plus system CPU time so far, in ticks. */
  cpuTicks: number;
}

export function readProcess(pid: number): ProcInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may contain spaces and parentheses: the fields after it start after the last ')'.
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    return {
      pid,
      ppid: Number(fields[1]),
      comm,
      cmdline,
      cpuTicks: Number(fields[11]) + Number(fields[12]),
    };
  } catch {
    // The process ended between the directory listing and the read.
    return undefined;
  }
}

export function listProcesses(): ProcInfo[] {
  const processes: ProcInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const info = readProcess(Number(entry));
    if (info) processes.push(info);
  }
  return processes;
}

/**
 * The pid of a built app started by this process. AppProcess keeps its ChildProcess private, but
 * it spawns node directly, so the app is our child with its main.js on the command line.
 */
export function findAppPids(app: 'api' | 'worker'): number[] {
  const script = `dist/apps/${app}/main.js`;
  return listProcesses()
    .filter((p) => p.ppid === process.pid && p.cmdline.includes(script))
    .map((p) => p.pid);
}

export function readRssMb(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Samples the RSS of a set of processes on a timer and keeps the largest any one of them
 * reached. The pids are looked up lazily until all `expected` are found, so sampling can begin
 * before the processes are even spawned and miss none of their start-up.
 */
export class PeakRssSampler {
  private pids: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  maxMb = 0;
  samples = 0;

  constructor(
    private readonly findPids: () => number[],
    private readonly expected = 1,
    private readonly intervalMs = 250,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  get processIds(): number[] {
    return this.pids;
  }

  private sample(): void {
    if (this.pids.length < this.expected) this.pids = this.findPids();
    for (const pid of this.pids) {
      const rss = readRssMb(pid);
      if (rss === undefined) continue;
      this.samples += 1;
      this.maxMb = Math.max(this.maxMb, rss);
    }
  }
}

export interface ProcessGroup {
  name: string;
  matches: (process: ProcInfo) => boolean;
}

export interface CpuSnapshot {
  at: number;
  ticks: Map<number, number>;
}

export interface CpuShare {
  name: string;
  /** Percent of one core over the interval (so up to 100 × cores). */
  percent: number;
  /** CPU time used in the interval, milliseconds. */
  cpuMs: number;
}

/** CPU used by named groups of processes between two snapshots of /proc. */
export class CpuMeter {
  constructor(private readonly groups: ProcessGroup[]) {}

  snapshot(): CpuSnapshot {
    return {
      at: performance.now(),
      ticks: new Map(listProcesses().map((p) => [p.pid, p.cpuTicks])),
    };
  }

  since(start: CpuSnapshot): CpuShare[] {
    const seconds = (performance.now() - start.at) / 1000;
    const processes = listProcesses();
    const share = (name: string, members: ProcInfo[]): CpuShare => {
      // A process born during the interval has a baseline of zero: all its CPU is in it.
      const ticks = members.reduce((sum, p) => sum + p.cpuTicks - (start.ticks.get(p.pid) ?? 0), 0);
      const cpuSeconds = ticks / TICKS_PER_SECOND;
      return {
        name,
        percent: seconds > 0 ? (cpuSeconds / seconds) * 100 : 0,
        cpuMs: cpuSeconds * 1000,
      };
    };
    const others = processes.filter((p) => !this.groups.some((group) => group.matches(p)));
    // The rest of the machine: on a shared box it tells whether the figures are trustworthy.
    return [
      ...this.groups.map(({ name, matches }) => share(name, processes.filter(matches))),
      share('other', others),
    ];
  }
}
