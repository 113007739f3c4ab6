// The cluster when processes fail: a worker SIGKILLed mid-graph, a task that kills its worker, a worker
// frozen by SIGSTOP, workers added and retired mid-run, the scheduler dying, peers without the secret.
// Workers run in processes of their own (tcp and ucx; inproc has none to kill).
import { describe, it, expect, afterEach } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { LocalCluster, Client, Nanny, TaskWorker, moduleFunction, ref, taskOptions, type Future } from 'node-ucx/scheduler';
import { within, startProcess } from '../helpers.js';
import { until } from './helpers.js';

const TASKS = new URL('./fixtures/tasks.mjs', import.meta.url).href;
const SCHEDULER = new URL('./fixtures/scheduler.mjs', import.meta.url).pathname;
const fn = (name: string) => moduleFunction(TASKS, name);

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function startCluster(opts: ConstructorParameters<typeof LocalCluster>[0]): Promise<{ cluster: LocalCluster; client: Client }> {
  const cluster = new LocalCluster(opts);
  cleanup.push(() => cluster.close());
  await within(cluster.ready, 20_000, 'the cluster to start');
  // Whatever goes wrong inside the scheduler (a transition that threw, a message it could not use) fails the test.
  const warnings: unknown[] = [];
  cluster.scheduler.on('warning', (warning: unknown) => warnings.push(warning));
  cleanup.push(() => {
    expect(warnings).toEqual([]);
  });
  const client = new Client(cluster, { setAsDefault: false });
  cleanup.push(() => client.close());
  await client.ready;
  return { cluster, client };
}

function tempFile(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-ucx-sched-'));
  cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, name);
}

const lines = (file: string): string[] => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.each(['tcp', 'ucx'] as const)('failures over %s', (protocol) => {
  it('a worker SIGKILLed mid-graph: the graph completes with the right results (lost results recomputed)', async () => {
    const { cluster, client } = await startCluster({ workers: 3, protocol });
    const log = tempFile('runs.log');
    // 60 chains of 3 slowish steps, then one sum.
    const graph: Record<string, unknown> = {};
    const ends: unknown[] = [];
    for (let i = 0; i < 60; i++) {
      graph[`c-${i}-0`] = [fn('loggedSlow'), log, `c-${i}-0`, 5, i];
      graph[`c-${i}-1`] = [(x: number) => x + 1, ref(`c-${i}-0`)];
      graph[`c-${i}-2`] = [(x: number) => x + 1, ref(`c-${i}-1`)];
      ends.push(ref(`c-${i}-2`));
    }
    graph.total = [(...xs: number[]) => xs.reduce((a, b) => a + b, 0), ...ends];
    const result = client.compute(graph, ['total']);
    await until(() => lines(log).length >= 20, 'a third of the graph to run', 15_000);
    const victim = cluster.nannies[0]!;
    const pid = victim.pid!;
    victim.kill('SIGKILL');
    const [total] = await within(result as Promise<number[]>, 30_000, 'the graph to complete after the kill');
    expect(total).toBe((60 * 59) / 2 + 2 * 60);
    expect(alive(pid)).toBe(false);
  });

  it('a task that kills its worker: KilledWorker after the 4th death (allowedFailures 3), and the cluster carries on', async () => {
    const { cluster, client } = await startCluster({ workers: 1, protocol });
    const log = tempFile('deaths.log');
    const bomb = client.submit(fn('killWorker'), log);
    const error = await within(
      bomb.result().then(
        () => null,
        (e: unknown) => e,
      ),
      40_000,
      'KilledWorker',
    );
    expect(error).toMatchObject({ name: 'KilledWorker', code: 'ERR_SCHEDULER_KILLED_WORKER' });
    // Four workers ran it, and died of it.
    const pids = lines(log);
    expect(pids).toHaveLength(4);
    expect(new Set(pids).size).toBe(4);
    // The nanny brought a fifth up, which works.
    await until(() => cluster.scheduler.state.workers.size === 1, 'a worker to be back', 15_000);
    expect(await client.submit(fn('inc'), 1)).toBe(2);
  });

  it('a worker frozen by SIGSTOP: its tasks move to another after the heartbeat timeout', async () => {
    const { cluster, client } = await startCluster({
      workers: 2,
      protocol,
      scheduler: { config: { workerTimeoutMs: 1000 }, tickMs: 50 },
      worker: { heartbeatMs: 100 },
    });
    const futures = [0, 1].map((i) => client.submit(fn('sleep'), 300, i, taskOptions({ pure: false })));
    await until(() => [...cluster.scheduler.state.workers.values()].every((ws) => ws.processing.size === 1), 'a task on each worker');
    const victim = cluster.nannies[0]!;
    const victimAddress = victim.address!;
    process.kill(victim.pid!, 'SIGSTOP');
    cleanup.push(() => {
      try {
        process.kill(victim.pid!, 'SIGCONT');
      } catch {
        /* gone */
      }
    });
    const stoppedAt = performance.now();
    expect(await within(client.gather(futures) as Promise<number[]>, 10_000, 'the tasks after the timeout')).toEqual([0, 1]);
    const took = performance.now() - stoppedAt;
    expect(took).toBeGreaterThan(900);
    expect(took).toBeLessThan(5000);
    expect(cluster.scheduler.state.workers.has(victimAddress)).toBe(false);
  });

  it('a worker that timed out (frozen past workerTimeoutMs, then thawed) exits so that its nanny restarts it; the cluster is whole again', async () => {
    const { cluster, client } = await startCluster({
      workers: 2,
      protocol,
      scheduler: { config: { workerTimeoutMs: 1000 }, tickMs: 50 },
      worker: { heartbeatMs: 100 },
    });
    const victim = cluster.nannies[0]!;
    const victimAddress = victim.address!;
    const exits: { code: number | null; signal: string | null; restarting: boolean }[] = [];
    const reasons: string[] = [];
    victim.on('exit', (code: number | null, signal: string | null, restarting: boolean) => exits.push({ code, signal, restarting }));
    victim.on('restart', (reason: string) => reasons.push(reason));
    const pid = victim.pid!;
    process.kill(pid, 'SIGSTOP');
    cleanup.push(() => {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        /* gone */
      }
    });
    await until(() => !cluster.scheduler.state.workers.has(victimAddress), 'the scheduler to remove the frozen worker', 10_000);
    process.kill(pid, 'SIGCONT');
    await until(() => exits.length > 0, 'the thawed worker to exit', 10_000);
    // Before: it exited 0 ("closed by the scheduler"), and its nanny left it down.
    expect(exits[0]).toEqual({ code: 4, signal: null, restarting: true });
    expect(reasons[0]).toBe('the scheduler removed it (it timed out)');
    await until(() => victim.address !== null && victim.pid !== pid && cluster.scheduler.state.workers.size === 2, 'the restarted worker to join', 20_000);
    expect(
      await within(client.submit(fn('inc'), 41, taskOptions({ workers: [victim.address!] })) as Promise<number>, 10_000, 'a task on the restarted worker'),
    ).toBe(42);
  });

  it('a worker frozen while another fetches from it: the fetch is given up once the scheduler moves on, nothing hangs', async () => {
    const { cluster, client } = await startCluster({
      workers: 2,
      protocol,
      scheduler: { config: { workerTimeoutMs: 1000 }, tickMs: 50 },
      worker: { heartbeatMs: 100 },
    });
    const data = client.submit(fn('block'), 100_000, 7, taskOptions({ pure: false }));
    await data;
    const holder = [...cluster.scheduler.state.tasks.get(data.key)!.whoHas][0]!.address;
    const frozen = cluster.nannies.find((n) => n.address === holder)!;
    const other = cluster.workers.find((w) => w !== holder)!;
    // The other worker has fetched from this one before: their connection is up (so no connect times out).
    const warm = client.submit(fn('block'), 10, 1, taskOptions({ workers: [holder] }));
    expect(await client.submit(fn('checksum'), warm, taskOptions({ workers: [other] }))).toMatchObject({ sum: 10 });
    process.kill(frozen.pid!, 'SIGSTOP');
    cleanup.push(() => {
      try {
        process.kill(frozen.pid!, 'SIGCONT');
      } catch {
        /* gone */
      }
    });
    // Runs on the other worker, which fetches its input from the frozen one: that fetch never ends by itself.
    const sum = client.submit(fn('checksum'), data, taskOptions({ workers: [other] }));
    expect(await within(sum.result(), 15_000, 'the task whose input was on the frozen worker')).toEqual({ sum: 700_000, first: 7, last: 7, length: 100_000 });
  });

  it('a worker added mid-run (scale) gets work within 1 s', async () => {
    const { cluster, client } = await startCluster({ workers: 1, protocol });
    const futures = client.map(
      fn('sleep'),
      Array(40).fill(50),
      Array.from({ length: 40 }, (_, i) => i),
    );
    await until(() => cluster.scheduler.state.counts.queued > 0, 'root tasks to queue');
    const firstTask = new Map<string, number>();
    let joinedAt = 0;
    let newcomer = '';
    cluster.scheduler.on('worker-added', (address: string) => {
      newcomer = address;
      joinedAt = performance.now();
    });
    cluster.scheduler.on('task', (record: { worker: string }) => {
      if (!firstTask.has(record.worker)) firstTask.set(record.worker, performance.now());
    });
    // Placed at once, and the first done within a second of joining.
    const placed = new Promise<number>((resolve) => {
      const check = setInterval(() => {
        if (newcomer !== '' && (cluster.scheduler.state.workers.get(newcomer)?.processing.size ?? 0) > 0) {
          clearInterval(check);
          resolve(performance.now());
        }
      }, 2);
    });
    await cluster.scale(2);
    const placedAt = await within(placed, 5000, 'work on the new worker');
    expect(placedAt - joinedAt).toBeLessThan(1000);
    expect(await within(client.gather(futures) as Promise<number[]>, 20_000, 'the map')).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(firstTask.get(newcomer)! - joinedAt).toBeLessThan(1000);
  });

  it('work stealing: tasks placed on a busy worker before another joined move to it', async () => {
    const { cluster, client } = await startCluster({ workers: 1, protocol, scheduler: { tickMs: 20 } });
    const input = client.submit(fn('block'), 10, 1);
    await input;
    // Tasks with a dependency are never queued: all 12 go to the one worker there is.
    const tasks = Array.from({ length: 12 }, (_, i) =>
      client.submit((x: Float64Array, j: number, ms: number) => new Promise((r) => setTimeout(() => r(x[0]! + j), ms)), input, i, 100),
    );
    await until(() => cluster.scheduler.state.counts.processing === 12, 'the tasks to be placed');
    const ranOn = new Map<string, number>();
    cluster.scheduler.on('task', (record: { worker: string }) => ranOn.set(record.worker, (ranOn.get(record.worker) ?? 0) + 1));
    await cluster.scale(2);
    expect(await within(client.gather(tasks), 20_000, 'the tasks')).toEqual(Array.from({ length: 12 }, (_, i) => 1 + i));
    const newcomer = cluster.workers.find((w) => w !== [...cluster.scheduler.state.tasks.get(input.key)!.whoHas][0]!.address)!;
    expect(ranOn.get(newcomer) ?? 0, `tasks run by the new worker (${JSON.stringify([...ranOn])})`).toBeGreaterThan(0);
  });

  it('retries: a task that fails twice succeeds on its second retry (and fails, without enough of them)', async () => {
    const { client } = await startCluster({ workers: 1, protocol });
    const log = tempFile('tries.log');
    expect(await client.submit(fn('failFirst'), log, 2, 'ok', taskOptions({ retries: 2 }))).toBe('ok');
    expect(lines(log)).toHaveLength(3);
    const log2 = tempFile('tries2.log');
    await expect(client.submit(fn('failFirst'), log2, 2, 'ok', taskOptions({ retries: 1 })).result()).rejects.toThrow(/failing run 2 of 2/);
    expect(lines(log2)).toHaveLength(2);
  });

  it('retireWorkers: unique results move first, nothing is recomputed, the worker exits', async () => {
    const { cluster, client } = await startCluster({ workers: 2, protocol });
    const log = tempFile('runs.log');
    const futures = Array.from({ length: 20 }, (_, i) =>
      client.submit(fn('logged'), log, `t${i}`, new Float64Array(1000).fill(i), taskOptions({ pure: false })),
    );
    await client.wait(futures);
    const victim = cluster.nannies[0]!;
    const address = victim.address!;
    const pid = victim.pid!;
    const unique = [...cluster.scheduler.state.workers.get(address)!.hasWhat].length;
    expect(unique).toBeGreaterThan(0);
    const exited = new Promise((resolve) => victim.once('exit', resolve));
    expect(await within(client.retireWorkers([address]), 10_000, 'the retirement')).toEqual([address]);
    await within(exited, 10_000, 'the retired worker to exit');
    expect(alive(pid)).toBe(false);
    expect(victim.restarts).toBe(0);
    const results = (await client.gather(futures)) as Float64Array[];
    results.forEach((r, i) => expect(r[999]).toBe(i));
    expect(lines(log)).toHaveLength(20);
    expect(cluster.scheduler.state.workers.size).toBe(1);
  });

  it('the scheduler closes: pending futures reject with ERR_SCHEDULER_GONE, the workers exit, nothing hangs', async () => {
    const { cluster, client } = await startCluster({ workers: 2, protocol });
    const pids = cluster.nannies.map((n) => n.pid!);
    const pending = client.submit(fn('sleep'), 20_000, 'never');
    await until(() => cluster.scheduler.state.counts.processing === 1, 'the task to run');
    const exits = cluster.nannies.map((n) => new Promise((resolve) => n.once('exit', (code, signal) => resolve({ code, signal }))));
    await within(cluster.scheduler.close(), 10_000, 'the scheduler to close');
    await expect(within(pending.result(), 5000, 'the pending future')).rejects.toMatchObject({ code: 'ERR_SCHEDULER_GONE' });
    expect(() => client.submit(fn('inc'), 1)).toThrow(expect.objectContaining({ code: 'ERR_SCHEDULER_GONE' }));
    expect(await within(Promise.all(exits), 10_000, 'the workers to exit')).toEqual([
      { code: 0, signal: null },
      { code: 0, signal: null },
    ]);
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });
});

describe('the scheduler in a process of its own', () => {
  for (const protocol of ['tcp', 'ucx'] as const) {
    it(`SIGKILLed (${protocol}): pending futures reject with ERR_SCHEDULER_GONE, its workers exit, nothing hangs`, async () => {
      const scheduler = startProcess(process.execPath, [SCHEDULER, protocol]);
      const [line] = await scheduler.line(/^\{.*\}$/, 15_000);
      const { address, secret: secret64 } = JSON.parse(line!) as { address: string; secret: string };
      const secret = Buffer.from(secret64, 'base64');
      const nannies = [0, 1].map(() => new Nanny({ scheduler: address, secret, worker: { nthreads: 1 }, restart: true }));
      cleanup.push(async () => {
        for (const n of nannies) await n.close(1000);
      });
      await Promise.all(nannies.map((n) => n.start()));
      const client = new Client({ address, secret }, { setAsDefault: false });
      cleanup.push(() => client.close());
      await client.ready;
      expect(await client.submit(fn('inc'), 1)).toBe(2);
      const pending = [0, 1, 2].map((i) => client.submit(fn('sleep'), 20_000, i));
      await new Promise((r) => setTimeout(r, 100));
      const exits = nannies.map((n) => new Promise((resolve) => n.once('exit', (code, signal, restarting) => resolve({ code, signal, restarting }))));
      scheduler.kill('SIGKILL');
      for (const f of pending) await expect(within(f.result(), 10_000, 'a pending future')).rejects.toMatchObject({ code: 'ERR_SCHEDULER_GONE' });
      // The workers end by themselves (exit 0), and are not restarted.
      for (const exit of await within(Promise.all(exits), 10_000, 'the workers to exit')) expect(exit).toEqual({ code: 0, signal: null, restarting: false });
    });
  }
});

describe('the cluster secret', () => {
  it('a client or worker with the wrong secret, or none, is refused and runs nothing', async () => {
    const { cluster, client } = await startCluster({ workers: 1, protocol: 'tcp' });
    const log = tempFile('runs.log');
    const intruder = new Client(cluster.schedulerAddress, { secret: randomBytes(32), setAsDefault: false });
    cleanup.push(() => intruder.close());
    // Submitted before the handshake fails: rejects (it used to stay pending for ever).
    const attempt = intruder.submit(fn('logged'), log, 'intruder', 1);
    await expect(intruder.ready).rejects.toMatchObject({ code: 'ERR_RPC_AUTH' });
    await expect(within(attempt.result(), 5000, "the intruder's future")).rejects.toMatchObject({ code: 'ERR_SCHEDULER_GONE' });
    expect(() => intruder.submit(fn('logged'), log, 'intruder', 2)).toThrow(expect.objectContaining({ code: 'ERR_SCHEDULER_GONE' }));
    await expect(intruder.run(() => process.pid)).rejects.toMatchObject({ code: 'ERR_SCHEDULER_GONE' });
    // No secret at all: refused before connecting.
    const saved = process.env.NODE_UCX_CLUSTER_SECRET;
    delete process.env.NODE_UCX_CLUSTER_SECRET;
    try {
      expect(() => new Client(cluster.schedulerAddress, { setAsDefault: false })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    } finally {
      if (saved !== undefined) process.env.NODE_UCX_CLUSTER_SECRET = saved;
    }
    // A worker with the wrong secret cannot join.
    await expect(TaskWorker.start({ scheduler: cluster.schedulerAddress, secret: randomBytes(32) })).rejects.toMatchObject({ code: 'ERR_RPC_AUTH' });
    // And cannot be reached with one: a client with the wrong secret fetching from a worker.
    const worker = cluster.workers[0]!;
    const stranger = new Client(worker, { secret: randomBytes(32), setAsDefault: false });
    cleanup.push(() => stranger.close());
    await expect(stranger.ready).rejects.toMatchObject({ code: 'ERR_RPC_AUTH' });
    await new Promise((r) => setTimeout(r, 100));
    expect(lines(log)).toEqual([]);
    expect(cluster.scheduler.state.workers.size).toBe(1);
    expect(cluster.scheduler.state.tasks.size).toBe(0);
    // The real client still works.
    const ok: Future = client.submit(fn('logged'), log, 'ok', 5);
    expect(await ok).toBe(5);
    expect(lines(log)).toEqual(['ok']);
  });
});
