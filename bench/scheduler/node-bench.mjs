// The node-ucx side of `npm run bench:scheduler`: one workload (S1–S8) on a LocalCluster of 2 workers ×
// 1 thread (ucx://, workers in processes of their own under nannies), as dask_bench.py runs it on Dask's.
// Prints one JSON line: { system, workload, config, runs: [...], summary: {...} }.
//
//   node bench/scheduler/node-bench.mjs S1 '{"tasks":10000,"reps":3}'
//
// S5 and S6 run the cluster in a child process (cluster-proc.mjs), so that the scheduler's CPU time and
// memory are its own and not the client's; the client is this process.
import { fork, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LocalCluster, Client, moduleFunction, ref } from 'node-ucx/scheduler';
import { treeShape } from './workloads.mjs';

const TASKS = new URL('./tasks.mjs', import.meta.url).href;
const fn = (name) => moduleFunction(TASKS, name);
const [NOOP, INC, SUM, FILL, ADD, FIRST, SLEEP] = ['noop', 'inc', 'sum', 'fill', 'add', 'first', 'sleep'].map(fn);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const now = () => performance.now() / 1000;
const sleep = (s) => new Promise((resolve) => setTimeout(resolve, s * 1000));

/** SchedulerConfig from run.mjs --scheduler-config (default: none, the scheduler's defaults). */
const SCHEDULER_CONFIG = JSON.parse(process.env.BENCH_SCHEDULER_CONFIG ?? '{}');

async function withCluster(opts, body) {
  const cluster = new LocalCluster({
    workers: 2,
    threads: 1,
    protocol: 'ucx',
    ...opts,
    scheduler: { config: { ...SCHEDULER_CONFIG, ...opts.scheduler?.config } },
  });
  await cluster.ready;
  const client = new Client(cluster);
  await client.ready;
  try {
    return await body(cluster, client);
  } finally {
    await client.close();
    await Promise.race([cluster.close(), sleep(5)]);
  }
}

async function gatherAndRelease(client, futures) {
  const values = await client.gather(futures);
  for (const f of futures) f.release();
  return values;
}

// S1: map a no-op over N inputs and gather (with root-task queuing as configured).
async function s1(config) {
  const variants = {};
  for (const [name, saturation] of [
    ['default', undefined],
    ['queuing-off', Infinity],
  ]) {
    const scheduler = saturation === undefined ? {} : { scheduler: { config: { workerSaturation: saturation } } };
    variants[name] = await withCluster(scheduler, async (_, client) => {
      const runs = [];
      // A warm-up (the workers import the task module once).
      await gatherAndRelease(client, client.map(NOOP, [-1, -2]));
      for (let rep = 0; rep < config.reps; rep++) {
        const inputs = Array.from({ length: config.tasks }, (_, i) => rep * config.tasks + i);
        const t0 = now();
        const values = await gatherAndRelease(client, client.map(NOOP, inputs));
        runs.push(now() - t0);
        if (values.length !== config.tasks || values[7] !== inputs[7]) throw new Error('S1: wrong results');
      }
      return runs;
    });
  }
  const time = median(variants.default);
  const off = median(variants['queuing-off']);
  return {
    runs: variants,
    summary: { seconds: time, tasksPerSecond: config.tasks / time, queuingOffSeconds: off, queuingOffTasksPerSecond: config.tasks / off },
  };
}

// S2: a chain of N dependent inc() tasks, submitted at once; the time per step.
async function s2(config) {
  return withCluster({}, async (_, client) => {
    await gatherAndRelease(client, client.map(INC, [-5]));
    const runs = [];
    for (let rep = 0; rep < config.reps; rep++) {
      const t0 = now();
      let future = client.submit(INC, rep * 1_000_000);
      const chain = [future];
      for (let i = 1; i < config.steps; i++) chain.push((future = client.submit(INC, future)));
      const value = await future.result();
      runs.push(now() - t0);
      if (value !== rep * 1_000_000 + config.steps) throw new Error(`S2: ${value}`);
      for (const f of chain) f.release();
    }
    const seconds = median(runs);
    return { runs, summary: { seconds, msPerStep: (seconds / config.steps) * 1000 } };
  });
}

// S3: one submit → result round trip at a time; the median of N per repetition.
async function s3(config) {
  return withCluster({}, async (_, client) => {
    await client.submit(INC, -7).result();
    const runs = [];
    for (let rep = 0; rep < config.reps; rep++) {
      const trips = [];
      for (let i = 0; i < config.trips; i++) {
        const t0 = now();
        const future = client.submit(INC, rep * 1_000_000 + i);
        await future.result();
        trips.push(now() - t0);
        future.release();
      }
      runs.push(median(trips));
    }
    return { runs, summary: { msPerRoundTrip: median(runs) * 1000 } };
  });
}

// S4: a pairwise tree sum of L Float64Arrays of n elements (1 MiB each at n = 131072), created on the
// workers; adds need arrays from the other worker, so data moves between them.
async function s4(config) {
  return withCluster({}, async (cluster, client) => {
    const runs = [];
    const moved = [];
    for (let rep = 0; rep < config.reps; rep++) {
      const graph = {};
      let level = [];
      for (let i = 0; i < config.leaves; i++) {
        const key = `fill-${rep}-${i}`;
        graph[key] = [FILL, i + rep, config.elements];
        level.push(key);
      }
      for (let depth = 1; level.length > 1; depth++) {
        const next = [];
        for (let j = 0; j < level.length; j += 2) {
          if (level[j + 1] === undefined) {
            next.push(level[j]);
            continue;
          }
          const key = `add-${rep}-${depth}-${j / 2}`;
          graph[key] = [ADD, ref(level[j]), ref(level[j + 1])];
          next.push(key);
        }
        level = next;
      }
      graph[`first-${rep}`] = [FIRST, ref(level[0])];
      const before = cluster.scheduler.bytesMoved;
      const t0 = now();
      const [value] = await client.compute(graph, [`first-${rep}`]);
      runs.push(now() - t0);
      moved.push(cluster.scheduler.bytesMoved - before);
      const expected = (config.leaves * (config.leaves - 1)) / 2 + rep * config.leaves;
      if (value !== expected) throw new Error(`S4: ${value} !== ${expected}`);
    }
    const seconds = median(runs);
    const bytes = median(moved);
    return { runs, summary: { seconds, bytesMoved: bytes, movedMiBps: bytes / 2 ** 20 / seconds, bytesMovedPerRun: moved } };
  });
}

// S5, S6: a sum tree of about N tasks (fan-in 8), in a cluster of its own process: time, the scheduler's CPU
// per task and its memory (peak heap + external over the idle baseline, per task; peak RSS).
async function bigGraph(config, workload) {
  const child = fork(fileURLToPath(new URL('./cluster-proc.mjs', import.meta.url)), [], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const replies = [];
  let wake = null;
  // A cluster without workers would wait for ever: after 20 s with none, this process fails and says why.
  const removals = [];
  let orphaned = null;
  child.on('message', (m) => {
    if (m?.type === 'worker-removed' || m?.type === 'worker-added') {
      if (m.type === 'worker-removed') removals.push(`${m.worker}: ${m.reason}`);
      clearTimeout(orphaned);
      if (m.workers === 0) {
        orphaned = setTimeout(() => {
          process.stderr.write(`node-bench ${workload}: the scheduler lost all its workers and none came back in 20 s (${removals.join('; ')})\n`);
          child.kill('SIGKILL');
          process.exit(1);
        }, 20_000);
      }
      return;
    }
    replies.push(m);
    wake?.();
  });
  const next = async () => {
    while (replies.length === 0)
      await new Promise((resolve) => {
        wake = resolve;
      });
    return replies.shift();
  };
  try {
    const ready = await next();
    const client = new Client({ address: ready.address, secret: Buffer.from(ready.secret, 'base64') });
    await client.ready;
    await client.submit(INC, -1).result();
    const shape = treeShape(config.tasks, config.fanin);
    const runs = [];
    for (let rep = 0; rep < config.reps; rep++) {
      const graph = {};
      const prefix = `r${rep}-`;
      for (const [key, i] of shape.levels[0]) graph[prefix + key] = [INC, i];
      for (const level of shape.levels.slice(1)) for (const [key, children] of level) graph[prefix + key] = [SUM, ...children.map((c) => ref(prefix + c))];
      child.send({ type: 'begin' });
      await next();
      const t0 = now();
      const [value] = await client.compute(graph, [prefix + shape.root]);
      const seconds = now() - t0;
      child.send({ type: 'end' });
      const stats = await next();
      if (value !== shape.expected) throw new Error(`tree sum: ${value} !== ${shape.expected}`);
      runs.push({ seconds, ...stats, removals: [...removals] });
    }
    await client.close();
    const pick = (k) => median(runs.map((r) => r[k]));
    const seconds = pick('seconds');
    return {
      runs,
      summary: {
        tasks: shape.tasks,
        seconds,
        tasksPerSecond: shape.tasks / seconds,
        schedulerCpuUsPerTask: (pick('cpuSeconds') * 1e6) / shape.tasks,
        schedulerBytesPerTask: pick('heapGrowth') / shape.tasks,
        schedulerPeakRssMiB: pick('peakRss') / 2 ** 20,
        schedulerRssGrowthMiB: pick('rssGrowth') / 2 ** 20,
      },
    };
  } finally {
    clearTimeout(orphaned);
    if (child.connected) child.send({ type: 'close' });
    await Promise.race([new Promise((resolve) => child.once('exit', resolve)), sleep(10)]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

// S7: N sleeping tasks; one worker SIGKILLed `killAt` s into the run (its nanny restarts it). Time until the
// scheduler notices, and the run's time against a clean run's.
async function s7(config) {
  return withCluster({}, async (cluster, client) => {
    const removed = [];
    cluster.scheduler.on('worker-removed', () => removed.push(now()));
    await gatherAndRelease(client, client.map(SLEEP, [1, 1], [-1, -2]));
    const runs = [];
    const once = async (offset, kill) => {
      let killedAt = null;
      const timer = kill
        ? setTimeout(() => {
            killedAt = now();
            cluster.nannies[0].kill('SIGKILL');
          }, config.killAt * 1000)
        : null;
      const t0 = now();
      const inputs = Array.from({ length: config.tasks }, (_, i) => offset + i);
      await gatherAndRelease(
        client,
        client.map(
          SLEEP,
          inputs.map(() => config.ms),
          inputs,
        ),
      );
      clearTimeout(timer);
      return { seconds: now() - t0, killedAt };
    };
    for (let rep = 0; rep < config.reps; rep++) {
      const clean = await once(rep * 2 * config.tasks, false);
      removed.length = 0;
      const killed = await once((rep * 2 + 1) * config.tasks, true);
      const noticed = removed.find((t) => t >= killed.killedAt);
      runs.push({ clean: clean.seconds, killed: killed.seconds, noticedMs: noticed === undefined ? null : (noticed - killed.killedAt) * 1000 });
      // Until the nanny's new worker has joined.
      const deadline = now() + 30;
      while (Object.keys((await client.schedulerInfo()).workers).length < 2 && now() < deadline) await sleep(0.05);
    }
    const clean = median(runs.map((r) => r.clean));
    const killed = median(runs.map((r) => r.killed));
    const noticed = runs.map((r) => r.noticedMs).filter((x) => x !== null);
    return {
      runs,
      summary: { cleanSeconds: clean, killedSeconds: killed, addedSeconds: killed - clean, noticedMs: noticed.length > 0 ? median(noticed) : null },
    };
  });
}

let clockTicks = 100;
try {
  clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  // 100 on Linux
}

/** utime + stime of a process, in seconds (/proc/PID/stat). */
function cpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}

// S8: an idle cluster (a client connected, nothing to do): each process's CPU, % of one core.
async function s8(config) {
  return withCluster({}, async (cluster, client) => {
    await client.submit(INC, 1).result();
    await sleep(config.settle);
    const processes = { 'scheduler + client': process.pid };
    cluster.nannies.forEach((n, i) => {
      processes[`worker ${i + 1}`] = n.pid;
    });
    const before = Object.fromEntries(Object.entries(processes).map(([name, pid]) => [name, cpuSeconds(pid)]));
    const t0 = now();
    await sleep(config.window);
    const elapsed = now() - t0;
    const percent = Object.fromEntries(Object.entries(processes).map(([name, pid]) => [name, ((cpuSeconds(pid) - before[name]) / elapsed) * 100]));
    return { runs: [percent], summary: { maxPercent: Math.max(...Object.values(percent)), percent } };
  });
}

const WORKLOADS = { S1: s1, S2: s2, S3: s3, S4: s4, S5: bigGraph, S6: bigGraph, S7: s7, S8: s8 };

const [workload, raw] = process.argv.slice(2);
if (!(workload in WORKLOADS)) {
  process.stderr.write(`usage: node-bench.mjs S1..S8 '{config json}'\n`);
  process.exit(2);
}
const config = JSON.parse(raw ?? '{}');
const result = await WORKLOADS[workload](config, workload);
process.stdout.write(`${JSON.stringify({ system: 'node-ucx', workload, config, ...result })}\n`);
process.exit(0);
