// What the dashboard and /metrics count of finished tasks (TaskStats, fed by the
// scheduler's 'task' events), and the Prometheus text exposition (format 0.0.4) of
// those counts and of the scheduler's state. Read-only: nothing here changes the
// scheduler. See docs/scheduler.md, "Watching a cluster".
import type { Scheduler, TaskRecord } from './scheduler.js';
import { keyPrefix } from './state/scheduler-state.js';

/** Upper bounds (seconds) of the task duration histogram's buckets. */
export const DURATION_BUCKETS: readonly number[] = Object.freeze([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]);

/** Distinct prefixes counted one by one; the rest are counted together under OTHER_PREFIX (bounded label sets). */
export const MAX_PREFIXES = 500;
export const OTHER_PREFIX = '(other)';

export class PrefixStats {
  readonly prefix: string;
  /** Tasks of this prefix that finished / failed on a worker, since the stats began. */
  finished = 0;
  erred = 0;
  /** Seconds, of finished tasks. */
  durationSum = 0;
  /** Finished tasks per bucket of DURATION_BUCKETS (not cumulative; the last one is +Inf). */
  readonly buckets: number[] = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
  readonly firstSeen: number;
  lastActive: number;

  constructor(prefix: string, now: number) {
    this.prefix = prefix;
    this.firstSeen = now;
    this.lastActive = now;
  }
}

/** Counters over the scheduler's 'task' events. */
export class TaskStats {
  finished = 0;
  erred = 0;
  readonly prefixes = new Map<string, PrefixStats>();

  record(record: TaskRecord): void {
    const stats = this.prefix(keyPrefix(record.key), record.at);
    stats.lastActive = record.at;
    if (record.status === 'erred') {
      this.erred++;
      stats.erred++;
      return;
    }
    this.finished++;
    stats.finished++;
    const seconds = Math.max(0, record.duration) / 1000;
    stats.durationSum += seconds;
    let bucket = 0;
    while (bucket < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[bucket]!) bucket++;
    stats.buckets[bucket]!++;
  }

  /** The stats of `prefix` (made on first use; past MAX_PREFIXES, those of OTHER_PREFIX). */
  prefix(prefix: string, now: number): PrefixStats {
    let stats = this.prefixes.get(prefix);
    if (stats === undefined) {
      if (this.prefixes.size >= MAX_PREFIXES) prefix = OTHER_PREFIX;
      stats = this.prefixes.get(prefix);
      if (stats === undefined) {
        stats = new PrefixStats(prefix, now);
        this.prefixes.set(prefix, stats);
      }
    }
    return stats;
  }
}

// ---- Prometheus text format ----

type Labels = Record<string, string>;
type Sample = [labels: Labels | null, value: number];

/** A label value as the exposition format writes it: backslash, double quote and line feed escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function formatLabels(labels: Labels | null): string {
  if (labels === null) return '';
  const parts = Object.entries(labels).map(([name, value]) => `${name}="${escapeLabelValue(value)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

class Exposition {
  readonly #lines: string[] = [];

  family(name: string, type: 'gauge' | 'counter', help: string, samples: Sample[]): void {
    this.#head(name, type, help);
    for (const [labels, value] of samples) this.#lines.push(`${name}${formatLabels(labels)} ${formatValue(value)}`);
  }

  histogram(name: string, help: string, series: { labels: Labels; buckets: number[]; sum: number }[]): void {
    this.#head(name, 'histogram', help);
    for (const { labels, buckets, sum } of series) {
      let cumulative = 0;
      for (let i = 0; i < buckets.length; i++) {
        cumulative += buckets[i]!;
        const le = i < DURATION_BUCKETS.length ? String(DURATION_BUCKETS[i]) : '+Inf';
        this.#lines.push(`${name}_bucket${formatLabels({ ...labels, le })} ${cumulative}`);
      }
      this.#lines.push(`${name}_sum${formatLabels(labels)} ${formatValue(sum)}`);
      this.#lines.push(`${name}_count${formatLabels(labels)} ${cumulative}`);
    }
  }

  #head(name: string, type: string, help: string): void {
    this.#lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
  }

  toString(): string {
    return this.#lines.join('\n') + '\n';
  }
}

/** The content type of the text format this writes. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** The scheduler's state and the stats, in the Prometheus text format. */
export function prometheusText(scheduler: Scheduler, stats: TaskStats, clients: number): string {
  const out = new Exposition();
  const { state } = scheduler;
  out.family(
    'ucx_scheduler_tasks',
    'gauge',
    'Tasks the scheduler holds, by state.',
    Object.entries(state.counts)
      .filter(([status]) => status !== 'forgotten')
      .map(([status, count]) => [{ state: status }, count]),
  );
  const byStatus: Record<string, number> = { running: 0, paused: 0, retiring: 0 };
  let threads = 0;
  for (const ws of state.workers.values()) {
    byStatus[ws.status] = (byStatus[ws.status] ?? 0) + 1;
    threads += ws.nthreads;
  }
  out.family(
    'ucx_scheduler_workers',
    'gauge',
    'Task workers connected to the scheduler, by status.',
    Object.entries(byStatus).map(([status, count]) => [{ status }, count]),
  );
  out.family('ucx_scheduler_threads', 'gauge', 'Threads of all connected task workers.', [[null, threads]]);
  out.family('ucx_scheduler_clients', 'gauge', 'Clients connected to the scheduler.', [[null, clients]]);
  out.family('ucx_scheduler_bytes_moved_total', 'counter', 'Bytes of task results copied from worker to worker.', [[null, scheduler.bytesMoved]]);
  out.family('ucx_scheduler_tasks_finished_total', 'counter', 'Tasks that finished on a worker.', [[null, stats.finished]]);
  out.family('ucx_scheduler_tasks_erred_total', 'counter', 'Tasks that failed on a worker (dependents that err with them not counted).', [[null, stats.erred]]);
  const prefixes = [...stats.prefixes.values()];
  out.histogram(
    'ucx_scheduler_task_duration_seconds',
    'How long finished tasks ran on a worker, by key prefix.',
    prefixes.filter((p) => p.finished > 0).map((p) => ({ labels: { prefix: p.prefix }, buckets: p.buckets, sum: p.durationSum })),
  );
  out.family(
    'ucx_scheduler_task_errors_total',
    'counter',
    'Tasks that failed on a worker, by key prefix.',
    prefixes.filter((p) => p.erred > 0).map((p) => [{ prefix: p.prefix }, p.erred]),
  );
  out.family(
    'ucx_scheduler_task_expected_duration_seconds',
    'gauge',
    'The duration the scheduler expects of a task of this prefix when it places one (a moving average).',
    [...state.durations].map(([prefix, ms]) => [{ prefix }, ms / 1000]),
  );

  const workers = [...state.workers.values()];
  const per = (pick: (ws: (typeof workers)[number]) => number | undefined): Sample[] => {
    const samples: Sample[] = [];
    for (const ws of workers) {
      const value = pick(ws);
      if (value !== undefined) samples.push([{ worker: ws.address, name: ws.name }, value]);
    }
    return samples;
  };
  out.family(
    'ucx_worker_threads',
    'gauge',
    'Threads of the task worker.',
    per((ws) => ws.nthreads),
  );
  out.family(
    'ucx_worker_memory_limit_bytes',
    'gauge',
    'Memory limit of the task worker (0: none).',
    per((ws) => ws.memoryLimit),
  );
  out.family(
    'ucx_worker_processing_tasks',
    'gauge',
    'Tasks the scheduler has assigned to the worker and not seen finish.',
    per((ws) => ws.processing.size),
  );
  out.family(
    'ucx_worker_stored_tasks',
    'gauge',
    'Task results the worker holds, as the scheduler knows.',
    per((ws) => ws.hasWhat.size),
  );
  out.family(
    'ucx_worker_stored_bytes',
    'gauge',
    'Bytes of task results the worker holds, as the scheduler knows.',
    per((ws) => ws.nbytes),
  );
  // From the workers' heartbeats: absent until a worker's first one.
  out.family(
    'ucx_worker_memory_bytes',
    'gauge',
    'Bytes of results the worker holds in memory (last heartbeat).',
    per((ws) => ws.metrics?.memory),
  );
  out.family(
    'ucx_worker_spilled_bytes',
    'gauge',
    'Bytes of results the worker has spilled to disk (last heartbeat).',
    per((ws) => ws.metrics?.spilled),
  );
  out.family(
    'ucx_worker_rss_bytes',
    'gauge',
    'Resident set size of the worker process (last heartbeat).',
    per((ws) => ws.metrics?.rss),
  );
  out.family(
    'ucx_worker_cpu_ratio',
    'gauge',
    'CPU time of the worker process per second, in cores (last heartbeat).',
    per((ws) => ws.metrics?.cpu),
  );
  out.family(
    'ucx_worker_executing_tasks',
    'gauge',
    'Tasks the worker is running (last heartbeat).',
    per((ws) => ws.metrics?.executing),
  );
  out.family(
    'ucx_worker_ready_tasks',
    'gauge',
    'Tasks waiting for a thread on the worker (last heartbeat).',
    per((ws) => ws.metrics?.ready),
  );
  out.family(
    'ucx_worker_paused',
    'gauge',
    '1 while the worker is paused for memory, else 0.',
    per((ws) => (ws.metrics === null ? undefined : ws.metrics.paused || ws.status === 'paused' ? 1 : 0)),
  );
  return out.toString();
}
