// /metrics: the Prometheus text format, read back by a strict parser (prometheus.ts) and
// checked against what client.schedulerInfo() says of the same cluster.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { LocalCluster, Client, taskOptions, type Future } from 'node-ucx/scheduler';
import { escapeLabelValue } from '../../src/scheduler/metrics.js';
import { parsePrometheus, valueOf } from './prometheus.js';

describe('the test parser', () => {
  it('reads a valid exposition with escapes, a histogram and timestamps', () => {
    const text = [
      '# HELP a_total Things\\\\done,\\nsecond line.',
      '# TYPE a_total counter',
      'a_total{x="q\\"uo\\\\te\\nnl",y="2",} 3 1700000000000',
      '# TYPE h histogram',
      'h_bucket{le="0.1"} 1',
      'h_bucket{le="+Inf"} 2',
      'h_sum 0.3',
      'h_count 2',
      'untyped_one NaN',
      '',
    ].join('\n');
    const families = parsePrometheus(text);
    expect(families.get('a_total')!.help).toBe('Things\\done,\nsecond line.');
    expect(families.get('a_total')!.samples[0]).toEqual({ name: 'a_total', labels: { x: 'q"uo\\te\nnl', y: '2' }, value: 3, timestamp: 1700000000000 });
    expect(valueOf(families, 'h_count')).toBe(2);
    expect(Number.isNaN(valueOf(families, 'untyped_one'))).toBe(true);
  });

  it.each([
    ['a bad escape', 'm{a="\\x"} 1\n'],
    ['an unclosed label value', 'm{a="1} 1\n'],
    ['a bad metric name', '1m 1\n'],
    ['a value that is no float', 'm 1,5\n'],
    ['no final line feed', 'm 1'],
    ['a TYPE after samples', 'm 1\n# TYPE m gauge\n'],
    ['two TYPE lines', '# TYPE m gauge\n# TYPE m gauge\n'],
    ['a family split up', '# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x="1"} 2\n'],
    ['a duplicate series', 'm{a="1",b="2"} 1\nm{b="2",a="1"} 1\n'],
    ['a negative counter', '# TYPE c_total counter\nc_total -1\n'],
    ['a histogram without +Inf', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'],
    ['buckets that are not cumulative', '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'],
    ['a reserved label name', 'm{__name__="x"} 1\n'],
  ])('refuses %s', (_, text) => {
    expect(() => parsePrometheus(text)).toThrow();
  });
});

describe('escapeLabelValue', () => {
  it('escapes backslash, double quote and line feed, and nothing else', () => {
    expect(escapeLabelValue('a\\b"c\nd\te')).toBe('a\\\\b\\"c\\nd\te');
  });
});

describe('/metrics', () => {
  let cluster: LocalCluster;
  let client: Client;
  const weird = 'we"ird\\pre\nfix';
  const futures: Future[] = [];

  beforeAll(async () => {
    cluster = new LocalCluster({ workers: 2, threads: 2, protocol: 'inproc', memoryLimit: 4 * 2 ** 30, dashboard: { port: 0 }, worker: { heartbeatMs: 50 } });
    await cluster.ready;
    client = new Client(cluster);
    const inc = (x: number): number => x + 1;
    const fail = (): never => {
      throw new Error('on purpose');
    };
    const ones = (n: number): Float64Array => new Float64Array(n).fill(1);
    const total = (a: Float64Array, b: Float64Array): number => a.length + b.length;
    futures.push(
      ...client.map(
        inc,
        Array.from({ length: 12 }, (_, i) => i),
      ),
    );
    futures.push(client.submit(inc, 100, taskOptions({ key: `${weird}-1` })));
    // Two arrays on the two workers (one each, by restriction), summed on one of them: bytes move.
    const a = client.submit(ones, 10_000, taskOptions({ workers: [cluster.workers[0]!] }));
    const b = client.submit(ones, 20_000, taskOptions({ workers: [cluster.workers[1]!] }));
    futures.push(a, b, client.submit(total, a, b));
    await client.gather(futures);
    futures.push(client.submit(fail));
    await futures.at(-1)!.exception();
    // Heartbeats after the last task: the workers' memory as it now stays.
    await new Promise((resolve) => setTimeout(resolve, 300));
  });

  afterAll(async () => {
    await client?.close();
    await cluster?.close();
  });

  it('is valid Prometheus text, served as version 0.0.4', async () => {
    const response = await fetch(new URL('metrics', cluster.dashboardLink!));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const families = parsePrometheus(await response.text());
    for (const family of families.values()) {
      expect(family.help, `HELP of ${family.name}`).toBeTruthy();
      expect(family.type, `TYPE of ${family.name}`).not.toBe('untyped');
    }
  });

  it('agrees with schedulerInfo: tasks by state, workers, threads, memory per worker', async () => {
    const info = await client.schedulerInfo();
    const families = parsePrometheus(await (await fetch(new URL('metrics', cluster.dashboardLink!))).text());
    for (const state of ['released', 'waiting', 'queued', 'no-worker', 'processing', 'memory', 'erred']) {
      expect(valueOf(families, 'ucx_scheduler_tasks', { state }), state).toBe(info.tasks[state] ?? 0);
    }
    expect(valueOf(families, 'ucx_scheduler_tasks', { state: 'memory' })).toBe(16);
    expect(valueOf(families, 'ucx_scheduler_tasks', { state: 'erred' })).toBe(1);
    const workers = Object.entries(info.workers);
    expect(workers).toHaveLength(2);
    expect(valueOf(families, 'ucx_scheduler_workers', { status: 'running' })).toBe(workers.filter(([, w]) => w.status === 'running').length);
    expect(valueOf(families, 'ucx_scheduler_threads')).toBe(workers.reduce((n, [, w]) => n + w.nthreads, 0));
    expect(valueOf(families, 'ucx_scheduler_threads')).toBe(4);
    expect(valueOf(families, 'ucx_scheduler_clients')).toBe(1);
    for (const [address, w] of workers) {
      const labels = { worker: address, name: w.name };
      expect(valueOf(families, 'ucx_worker_threads', labels)).toBe(w.nthreads);
      expect(valueOf(families, 'ucx_worker_memory_limit_bytes', labels)).toBe(w.memoryLimit);
      expect(valueOf(families, 'ucx_worker_stored_tasks', labels)).toBe(w.stored);
      expect(valueOf(families, 'ucx_worker_stored_bytes', labels)).toBe(w.nbytes);
      expect(valueOf(families, 'ucx_worker_processing_tasks', labels)).toBe(w.processing);
      expect(w.metrics).not.toBeNull();
      expect(valueOf(families, 'ucx_worker_memory_bytes', labels)).toBe(w.metrics!.memory);
      expect(valueOf(families, 'ucx_worker_spilled_bytes', labels)).toBe(w.metrics!.spilled);
      expect(valueOf(families, 'ucx_worker_rss_bytes', labels)).toBeGreaterThan(0);
      expect(valueOf(families, 'ucx_worker_paused', labels)).toBe(0);
    }
    expect(valueOf(families, 'ucx_scheduler_bytes_moved_total')).toBe(cluster.scheduler.bytesMoved);
    expect(cluster.scheduler.bytesMoved).toBeGreaterThanOrEqual(80_000); // one of the two arrays moved
  });

  it('counts finished and erred tasks, and task durations by prefix (label values escaped)', async () => {
    const families = parsePrometheus(await (await fetch(new URL('metrics', cluster.dashboardLink!))).text());
    expect(valueOf(families, 'ucx_scheduler_tasks_finished_total')).toBe(16);
    expect(valueOf(families, 'ucx_scheduler_tasks_erred_total')).toBe(1);
    expect(families.get('ucx_scheduler_task_duration_seconds')!.type).toBe('histogram');
    expect(valueOf(families, 'ucx_scheduler_task_duration_seconds_count', { prefix: 'inc' })).toBe(12);
    expect(valueOf(families, 'ucx_scheduler_task_duration_seconds_bucket', { prefix: 'inc', le: '+Inf' })).toBe(12);
    expect(valueOf(families, 'ucx_scheduler_task_duration_seconds_sum', { prefix: 'inc' })).toBeGreaterThan(0);
    // The key's prefix has a quote, a backslash and a line feed: the parser gives back the same string.
    expect(valueOf(families, 'ucx_scheduler_task_duration_seconds_count', { prefix: weird })).toBe(1);
    expect(valueOf(families, 'ucx_scheduler_task_errors_total', { prefix: 'fail' })).toBe(1);
    expect(valueOf(families, 'ucx_scheduler_task_expected_duration_seconds', { prefix: 'inc' })).toBeGreaterThan(0);
  });
});
