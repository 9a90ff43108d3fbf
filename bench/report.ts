import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/**
 * bench/results/latest.json: the keys of the contract's "Benchmark output", plus the
 * DELIVERY_MODE measured; a side-by-side run (--mode both) adds the direct mode's figures
 * under `direct`.
 */
export interface BenchResult {
  machine: string;
  events: number;
  workers: number;
  ingest_per_s: number;
  delivered_per_s: number;
  raw_limit_per_s: number;
  ratio_to_limit: number;
  p50_ms: number;
  p99_ms: number;
  latency_rate_per_s: number;
  worker_rss_mb_max: number;
  duplicates: number;
  missing: number;
  delivery_mode: 'kafka' | 'direct';
  direct?: Omit<BenchResult, 'machine' | 'direct'>;
}

export const RESULTS_FILE = path.join(__dirname, 'results', 'latest.json');

export function machineDescription(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? 'unknown CPU';
  const gib = (os.totalmem() / 1024 ** 3).toFixed(1);
  return `${cpus.length} cores ${model}, ${gib} GiB, node ${process.version}`;
}

/** Nearest-rank percentile; NaN for no values. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** Events per second over a span in milliseconds; 0 when there is no span to divide by. */
export function perSecond(count: number, ms: number): number {
  return ms > 0 ? (count * 1000) / ms : 0;
}

export function round(value: number, decimals: number): number {
  if (!Number.isFinite(value)) return 0;
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
}

export async function writeResult(result: BenchResult): Promise<void> {
  await mkdir(path.dirname(RESULTS_FILE), { recursive: true });
  await writeFile(RESULTS_FILE, `${JSON.stringify(result, null, 2)}\n`);
}

/** A row of the printed table; an empty phase continues the phase above. */
export type Row = [phase: string, figure: string, value: string, note?: string];

export function printTable(title: string, rows: Row[]): void {
  const widths = [0, 1, 2].map((column) =>
    Math.max(...rows.map((row) => row[column]?.length ?? 0)),
  );
  console.log(`\n${title}`);
  for (const [phase, figure, value, note] of rows) {
    const line = [
      phase.padEnd(widths[0]),
      figure.padEnd(widths[1]),
      value.padStart(widths[2]),
      note ?? '',
    ].join('  ');
    console.log(`  ${line.trimEnd()}`);
  }
}

export interface CpuRow {
  phase: string;
  shares: Array<{ name: string; percent: number; cpuMs: number }>;
  /** The events the phase handled, when it is one pass over a known number of them. */
  events?: number;
}

/** CPU per process group and phase, in percent of one core. */
export function printCpuTable(rows: CpuRow[]): void {
  if (rows.length === 0) return;
  const names = rows[0].shares.map((share) => share.name);
  const phaseWidth = Math.max(5, ...rows.map((row) => row.phase.length));
  const widths = names.map((name) => Math.max(name.length, 5));
  const cores = os.cpus().length;
  console.log(`\nCPU, % of one core (${cores} cores = ${cores * 100} %)`);
  console.log(
    `  ${'phase'.padEnd(phaseWidth)}  ${names.map((n, i) => n.padStart(widths[i])).join('  ')}`,
  );
  for (const row of rows) {
    const cells = row.shares.map((share, i) => share.percent.toFixed(0).padStart(widths[i]));
    console.log(`  ${row.phase.padEnd(phaseWidth)}  ${cells.join('  ')}`);
  }
  const counted = rows.filter((row) => row.events !== undefined && row.events > 0);
  if (counted.length === 0) return;
  // What each event costs the machine, process by process: compares the service with the raw
  // pipeline by work done rather than by rate (on a machine whose cores are all busy, the
  // rates follow the costs). "total" leaves "other" out: processes outside this run.
  console.log(
    "\nCPU per event, ms of one core (a phase's CPU time over its events; a drain's from its " +
      'first arrival to its last, over the events that arrived)',
  );
  const columns = [...names.filter((name) => name !== 'other'), 'total'];
  const columnWidths = columns.map((name) => Math.max(name.length, 5));
  console.log(
    `  ${'phase'.padEnd(phaseWidth)}  ${columns.map((n, i) => n.padStart(columnWidths[i])).join('  ')}`,
  );
  for (const row of counted) {
    const events = row.events ?? 1;
    const ours = row.shares.filter((share) => share.name !== 'other');
    const perEvent = ours.map((share) => share.cpuMs / events);
    perEvent.push(perEvent.reduce((sum, ms) => sum + ms, 0));
    const cells = perEvent.map((ms, i) => ms.toFixed(3).padStart(columnWidths[i]));
    console.log(`  ${row.phase.padEnd(phaseWidth)}  ${cells.join('  ')}`);
  }
}
