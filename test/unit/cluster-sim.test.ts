// SchedulerState and WorkerState together, as the shells connect them, in one seeded simulation: a
// client submitting, releasing, cancelling and scattering; workers that execute (and fail), fetch from
// each other (peers answer from what they hold), die, freeze and join; messages delivered in order on
// each connection but interleaved at random across connections, as rpc/ does. Each worker's data is
// modelled as the shell keeps it (its DataStore: set before the state hears, deleted on 'release').
//
// After the run everything is let finish, and then: every task the client wants is settled; every
// holder the scheduler lists really holds the key; no worker holds data the scheduler does not know
// of; and once the client is gone, no worker holds anything. These are the properties whose breaking
// deadlocked Dask (a worker waiting on data nobody will send) or leaked memory (data nobody will free).
import { describe, it, expect } from 'vitest';
import { SchedulerState, type SchedulerEvent, type SchedulerInstruction } from '../../src/scheduler/state/scheduler-state.js';
import { WorkerState, type WorkerEvent, type WorkerInstruction } from '../../src/scheduler/state/worker-state.js';
import type { ComputeTask, TaskSpec, WorkerMetrics } from '../../src/scheduler/protocol.js';

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const METRICS: WorkerMetrics = { memory: 0, spilled: 0, rss: 0, executing: 0, ready: 0, inFlight: 0, bytesIn: 0, bytesOut: 0, cpu: 0, paused: false };
const CLIENT = 'client';

interface SimWorker {
  address: string;
  state: WorkerState;
  /** The shell's DataStore: key -> nbytes. */
  store: Map<string, number>;
  /** Executions under way (keys), ended at random. */
  executing: string[];
  /** Fetches under way: peer -> keys asked for; answered at random (the peer serves from its store then). */
  asking: Map<string, string[]>;
  /** Answers on their way back: [peer, received, missing, failed]. */
  answers: [string, Record<string, number>, string[], boolean][];
  /** The scheduler's messages to it, in order. */
  inbox: { op: string; body: unknown }[];
  /** Its messages to the scheduler, in order. */
  outbox: { message: string; body: unknown }[];
  /** Alive: takes part. Frozen: alive for its peers' sockets, but does nothing and answers nothing. */
  alive: boolean;
  frozen: boolean;
  /** Registered with the scheduler (its worker-added delivered). */
  joined: boolean;
}

function simulate(seed: number, steps: number): void {
  const rand = prng(seed);
  const pick = <T>(items: readonly T[]): T | undefined => (items.length === 0 ? undefined : items[Math.floor(rand() * items.length)]);
  const scheduler = new SchedulerState({ stealing: true, workerTimeoutMs: 100, workerSaturation: 1 + rand() * 2 });
  const workers = new Map<string, SimWorker>();
  /** The client's messages to the scheduler, in order. */
  const clientOut: SchedulerEvent[] = [];
  /** put-data on its way to a worker: [worker, key]. The client tells the scheduler ('scattered') once the worker has it. */
  const puts: [string, string][] = [];
  const wanted = new Set<string>();
  const known: string[] = [];
  let now = 0;
  let nextWorker = 0;
  let nextKey = 0;
  let nextRetire = 0;
  const trace: string[] = [];
  const note = (line: string): void => {
    if (process.env.FUZZ_TRACE && line.includes(process.env.FUZZ_TRACE)) console.log(line);
    trace.push(line);
    if (trace.length > 60) trace.shift();
  };
  const fail = (message: string): never => {
    throw new Error(`seed ${seed}: ${message}\nlast events:\n  ${trace.join('\n  ')}`);
  };

  const toScheduler = (event: SchedulerEvent): void => {
    note(`S <- ${JSON.stringify(event, (k, v) => (k === 'payload' || k === 'metrics' || k === 'spec' ? undefined : v))}`);
    for (const i of scheduler.handle(event)) fromScheduler(i);
  };
  const fromScheduler = (i: SchedulerInstruction): void => {
    if (i.kind === 'worker') {
      const w = workers.get(i.worker);
      if (w !== undefined && w.alive) w.inbox.push({ op: i.op, body: i.body });
    } else if (i.kind === 'close-worker') {
      const w = workers.get(i.worker);
      if (w !== undefined) kill(w, false);
    } else if (i.kind === 'client' && i.op === 'cancelled') {
      // A dependency was cancelled: so is this (the client's future says so).
      wanted.delete((i.body as { key: string }).key);
    }
  };
  const toWorker = (w: SimWorker, event: WorkerEvent): void => {
    note(`${w.address} <- ${JSON.stringify(event, (k, v) => (k === 'payload' ? undefined : v))}`);
    for (const i of w.state.handle(event)) fromWorker(w, i);
  };
  const fromWorker = (w: SimWorker, i: WorkerInstruction): void => {
    note(`${w.address} -> ${JSON.stringify(i, (k, v) => (k === 'payload' ? undefined : v))}`);
    switch (i.op) {
      case 'execute':
        w.executing.push(i.key);
        break;
      case 'gather':
        if (w.asking.has(i.worker)) fail(`${w.address} fetches from ${i.worker} twice at once`);
        w.asking.set(i.worker, i.keys);
        break;
      case 'release':
        w.store.delete(i.key);
        break;
      case 'drop-peer': {
        // The connection is aborted: a fetch under way from that peer fails.
        if (w.asking.delete(i.worker)) w.answers.push([i.worker, {}, [], true]);
        break;
      }
      case 'scheduler':
        w.outbox.push({ message: i.message, body: i.body });
        break;
    }
  };
  /** The worker's process ends: the scheduler hears its connection close (what it had sent may or may not arrive first). */
  const kill = (w: SimWorker, deliverFirst: boolean): void => {
    if (!w.alive) return;
    if (deliverFirst) while (w.outbox.length > 0) deliverToScheduler(w);
    w.alive = false;
    w.inbox = [];
    w.outbox = [];
    w.executing = [];
    w.store.clear();
    // Fetches from it fail (a dead peer resets the connection).
    for (const other of workers.values()) if (other.asking.delete(w.address)) other.answers.push([w.address, {}, [], true]);
    if (w.joined) toScheduler({ type: 'worker-removed', worker: w.address, reason: 'died' });
  };
  const deliverToScheduler = (w: SimWorker): void => {
    const m = w.outbox.shift()!;
    const b = m.body as Record<string, unknown>;
    switch (m.message) {
      case 'task-finished':
        toScheduler({ type: 'task-finished', worker: w.address, key: b.key as string, nbytes: b.nbytes as number, typeName: 'number', duration: 1 });
        break;
      case 'task-erred':
        toScheduler({ type: 'task-erred', worker: w.address, key: b.key as string, error: b.error as never, duration: 1 });
        break;
      case 'missing-data':
        toScheduler({ type: 'missing-data', worker: w.address, key: b.key as string, holder: b.holder as string });
        break;
      case 'added-keys':
        toScheduler({ type: 'added-keys', worker: w.address, keys: b.keys as [string, number][] });
        break;
      case 'steal-response':
        toScheduler({ type: 'steal-response', worker: w.address, key: b.key as string, stolen: b.stolen as boolean });
        break;
      case 'status':
        toScheduler({ type: 'worker-status', worker: w.address, paused: b.paused as boolean });
        break;
      case 'freed':
        toScheduler({ type: 'keys-freed', worker: w.address, keys: b.keys as string[] });
        break;
      default:
        fail(`unknown message ${m.message}`);
    }
  };
  const deliverToWorker = (w: SimWorker): void => {
    const m = w.inbox.shift()!;
    const b = m.body as Record<string, unknown>;
    switch (m.op) {
      case 'compute-task':
        toWorker(w, { type: 'compute-task', task: b as unknown as ComputeTask });
        break;
      case 'free-keys':
        toWorker(w, { type: 'free-keys', keys: b.keys as string[] });
        break;
      case 'steal-request':
        toWorker(w, { type: 'steal-request', key: b.key as string });
        break;
      case 'acquire-replicas':
        toWorker(w, { type: 'acquire-replicas', keys: b.keys as Record<string, string[]> });
        break;
      case 'remove-peer':
        toWorker(w, { type: 'peer-removed', worker: b.address as string });
        break;
      default:
        fail(`unknown op ${m.op}`);
    }
  };
  const deliverFromClient = (): void => {
    const event = clientOut.shift()!;
    // Scattered data on a worker that died before the scheduler heard of it: the scheduler never knows
    // the key (the client's future holds the value it scattered, and no task may use it).
    if (event.type === 'scattered' && !scheduler.workers.has(event.worker)) for (const [key] of event.keys) wanted.delete(key);
    toScheduler(event);
  };
  const addWorker = (): void => {
    const address = `w${nextWorker++}`;
    const nthreads = 1 + Math.floor(rand() * 2);
    const w: SimWorker = {
      address,
      state: new WorkerState({ nthreads, resources: {}, maxGathers: 4 }),
      store: new Map(),
      executing: [],
      asking: new Map(),
      answers: [],
      inbox: [],
      outbox: [],
      alive: true,
      frozen: false,
      joined: true,
    };
    workers.set(address, w);
    toScheduler({ type: 'worker-added', spec: { address, name: address, nthreads, memoryLimit: 0, resources: {}, pid: 0 }, now });
  };
  const live = (): SimWorker[] => [...workers.values()].filter((w) => w.alive);
  const active = (): SimWorker[] => live().filter((w) => !w.frozen);
  const endExecution = (w: SimWorker, index: number, succeed: boolean): void => {
    const [key] = w.executing.splice(index, 1);
    if (succeed) {
      // The shell stores the result first; the state then decides (a cancelled task's is released).
      w.store.set(key!, 10);
      toWorker(w, { type: 'execute-success', key: key!, nbytes: 10, typeName: 'number', duration: 1 });
    } else {
      toWorker(w, { type: 'execute-failure', key: key!, error: { name: 'Error', message: 'sim' }, duration: 1 });
    }
  };
  const serveFetch = (w: SimWorker, peer: string): void => {
    const keys = w.asking.get(peer)!;
    const p = workers.get(peer);
    if (p !== undefined && p.alive && p.frozen) return; // a frozen peer never answers
    w.asking.delete(peer);
    if (p === undefined || !p.alive) {
      w.answers.push([peer, {}, [], true]);
      return;
    }
    const received: Record<string, number> = {};
    const missing: string[] = [];
    for (const key of keys) {
      if (p.store.has(key)) received[key] = p.store.get(key)!;
      else missing.push(key);
    }
    w.answers.push([peer, received, missing, false]);
  };
  const deliverAnswer = (w: SimWorker): void => {
    const [peer, received, missing, failed] = w.answers.shift()!;
    for (const [key, nbytes] of Object.entries(received)) w.store.set(key, nbytes);
    toWorker(w, { type: 'gather-done', worker: peer, received, missing, failed });
  };

  addWorker();
  addWorker();
  for (let step = 0; step < steps; step++) {
    const r = rand();
    now += 1;
    if (r < 0.1) {
      // The client submits a few tasks (on new keys and known ones) and wants some of them.
      const tasks: TaskSpec[] = [];
      for (let n = 1 + Math.floor(rand() * 4); n > 0; n--) {
        const key = `k${nextKey++}`;
        const deps = new Set<string>();
        for (let d = Math.floor(rand() * 3); d > 0; d--) {
          const dep = rand() < 0.5 ? pick(tasks.map((t) => t.key)) : pick(known.slice(-30));
          if (dep !== undefined) deps.add(dep);
        }
        tasks.push({ key, deps: [...deps], payload: [Buffer.from(key)], ...(rand() < 0.1 ? { retries: 1 } : {}) });
      }
      const want = tasks.filter(() => rand() < 0.6).map((t) => t.key);
      if (want.length === 0) want.push(tasks[tasks.length - 1]!.key);
      for (const key of want) wanted.add(key);
      for (const t of tasks) known.push(t.key);
      clientOut.push({ type: 'update-graph', client: CLIENT, tasks, wanted: want });
    } else if (r < 0.11) {
      // An old key wanted again (released, perhaps forgotten, perhaps still kept for lineage).
      const key = pick(known);
      if (key === undefined || key.startsWith('s')) continue;
      wanted.add(key);
      clientOut.push({ type: 'update-graph', client: CLIENT, tasks: [{ key, deps: [], payload: [Buffer.from(key)] }], wanted: [key] });
    } else if (r < 0.13) {
      const key = pick([...wanted]);
      if (key === undefined) continue;
      wanted.delete(key);
      clientOut.push({ type: 'release-keys', client: CLIENT, keys: [key] });
    } else if (r < 0.14) {
      const key = pick([...wanted]);
      if (key === undefined) continue;
      wanted.delete(key);
      clientOut.push({ type: 'cancel-keys', client: CLIENT, keys: [key] });
    } else if (r < 0.16) {
      const w = pick(active());
      if (w === undefined) continue;
      const key = `s${nextKey++}`;
      wanted.add(key);
      known.push(key);
      puts.push([w.address, key]);
    } else if (r < 0.3) {
      if (clientOut.length > 0) deliverFromClient();
    } else if (r < 0.32) {
      // A put-data arrives: the worker holds the value; the client's 'scattered' follows on its connection.
      const index = Math.floor(rand() * puts.length);
      const [address, key] = puts.splice(index, 1)[0] ?? [];
      const w = address === undefined ? undefined : workers.get(address);
      if (w === undefined) continue;
      // A worker that cannot take it: scatter() fails, the client has no future.
      if (!w.alive || w.frozen) {
        wanted.delete(key!);
        continue;
      }
      w.store.set(key!, 5);
      toWorker(w, { type: 'put-data', key: key!, nbytes: 5 });
      clientOut.push({ type: 'scattered', client: CLIENT, worker: w.address, keys: [[key!, 5]] });
    } else if (r < 0.47) {
      const w = pick(active().filter((x) => x.inbox.length > 0));
      if (w !== undefined) deliverToWorker(w);
    } else if (r < 0.62) {
      const w = pick(active().filter((x) => x.outbox.length > 0));
      if (w !== undefined) deliverToScheduler(w);
    } else if (r < 0.72) {
      const w = pick(active().filter((x) => x.executing.length > 0));
      if (w !== undefined) endExecution(w, Math.floor(rand() * w.executing.length), rand() < 0.92);
    } else if (r < 0.8) {
      const w = pick(live().filter((x) => x.asking.size > 0));
      if (w !== undefined) serveFetch(w, pick([...w.asking.keys()])!);
    } else if (r < 0.87) {
      const w = pick(active().filter((x) => x.answers.length > 0));
      if (w !== undefined) deliverAnswer(w);
    } else if (r < 0.93) {
      // Time passes: heartbeats from those who can, the scheduler's tick (timeouts, stealing).
      now += 10;
      for (const w of active()) toScheduler({ type: 'heartbeat', worker: w.address, now, metrics: METRICS });
      toScheduler({ type: 'tick', now });
    } else if (r < 0.945) {
      if (live().length < 5) addWorker();
    } else if (r < 0.96) {
      const w = pick(live());
      if (w !== undefined && live().length > 1) kill(w, rand() < 0.5);
    } else if (r < 0.97) {
      const w = pick(active());
      if (w !== undefined && active().length > 1) w.frozen = true;
    } else if (r < 0.972) {
      // Memory pressure comes and goes: the worker pauses (and says so), or resumes.
      const w = pick(active());
      if (w === undefined) continue;
      const paused = !w.state.paused;
      toWorker(w, { type: 'pause', paused });
      w.outbox.push({ message: 'status', body: { paused } });
    } else if (r < 0.975) {
      const w = pick(active());
      if (w !== undefined && active().length > 1) toScheduler({ type: 'retire-workers', request: ++nextRetire, workers: [w.address] });
    } else {
      // Steal answers and the like come in time: deliver one message anywhere.
      const w = pick(active().filter((x) => x.outbox.length > 0 || x.inbox.length > 0));
      if (w === undefined) continue;
      if (w.inbox.length > 0) deliverToWorker(w);
      else deliverToScheduler(w);
    }
  }

  // Everything finishes: frozen workers stay frozen (the scheduler times them out), executions succeed,
  // peers answer, every message arrives. A worker joins if none is left.
  if (active().length === 0) addWorker();
  for (const w of active())
    if (w.state.paused) {
      toWorker(w, { type: 'pause', paused: false });
      w.outbox.push({ message: 'status', body: { paused: false } });
    }
  const quiet = (): boolean =>
    active().length > 0 &&
    clientOut.length === 0 &&
    puts.length === 0 &&
    active().every(
      (w) =>
        w.inbox.length === 0 &&
        w.outbox.length === 0 &&
        w.executing.length === 0 &&
        w.answers.length === 0 &&
        [...w.asking.keys()].every((p) => workers.get(p)?.frozen === true && workers.get(p)!.alive),
    );
  for (let round = 0; round < 20_000; round++) {
    // (A retirement may close the last worker: a new one comes, as a nanny or adapt() would bring it.)
    if (active().length === 0) addWorker();
    for (const [address, key] of puts.splice(0)) {
      const w = workers.get(address)!;
      if (!w.alive || w.frozen) {
        wanted.delete(key);
        continue;
      }
      w.store.set(key, 5);
      toWorker(w, { type: 'put-data', key, nbytes: 5 });
      clientOut.push({ type: 'scattered', client: CLIENT, worker: address, keys: [[key, 5]] });
    }
    while (clientOut.length > 0) deliverFromClient();
    for (const w of active()) {
      while (w.inbox.length > 0) deliverToWorker(w);
      while (w.executing.length > 0) endExecution(w, 0, true);
      for (const peer of [...w.asking.keys()]) serveFetch(w, peer);
      while (w.answers.length > 0) deliverAnswer(w);
      while (w.outbox.length > 0) deliverToScheduler(w);
    }
    now += 50;
    for (const w of active()) toScheduler({ type: 'heartbeat', worker: w.address, now, metrics: METRICS });
    toScheduler({ type: 'tick', now });
    if (quiet() && live().every((w) => !w.frozen)) break;
    if (round === 19_999) fail('the cluster never went quiet');
  }

  // Every task the client wants has settled.
  for (const key of wanted) {
    const ts = scheduler.tasks.get(key);
    if (ts === undefined) fail(`wanted ${key} was forgotten`);
    if (ts!.status !== 'memory' && ts!.status !== 'erred') fail(`wanted ${key} is ${ts!.status} on a quiet cluster`);
  }
  // The scheduler's holders hold; the workers hold nothing the scheduler does not know of.
  for (const ts of scheduler.tasks.values()) {
    for (const ws of ts.whoHas) {
      const w = workers.get(ws.address)!;
      if (!w.alive) fail(`${ts.key}: the scheduler lists ${ws.address}, which is dead`);
      if (!w.store.has(ts.key)) fail(`${ts.key}: the scheduler lists ${ws.address} as a holder, which does not hold it`);
    }
  }
  for (const w of live()) {
    for (const key of w.store.keys()) {
      const ts = scheduler.tasks.get(key);
      if (ts === undefined || ![...ts.whoHas].some((ws) => ws.address === w.address)) {
        fail(`${w.address} holds ${key}, which the scheduler does not know it holds (${ts?.status ?? 'forgotten'})`);
      }
    }
  }
  // The client goes: everything is freed everywhere.
  toScheduler({ type: 'client-gone', client: CLIENT });
  for (let round = 0; round < 100; round++) {
    for (const w of active()) {
      while (w.inbox.length > 0) deliverToWorker(w);
      while (w.executing.length > 0) endExecution(w, 0, true);
      for (const peer of [...w.asking.keys()]) serveFetch(w, peer);
      while (w.answers.length > 0) deliverAnswer(w);
      while (w.outbox.length > 0) deliverToScheduler(w);
    }
  }
  if (scheduler.tasks.size > 0) fail(`the scheduler kept ${[...scheduler.tasks.keys()].slice(0, 5).join(', ')} after the client left`);
  for (const w of live()) {
    if (w.store.size > 0) fail(`${w.address} still holds ${[...w.store.keys()].slice(0, 5).join(', ')} after the client left`);
    if (w.state.tasks.size > 0)
      fail(
        `${w.address} still tracks ${[...w.state.tasks.values()]
          .slice(0, 5)
          .map((t) => `${t.key} (${t.status})`)
          .join(', ')}`,
      );
  }
  expect(true).toBe(true);
}

describe('SchedulerState and WorkerState together (a simulated cluster)', () => {
  for (const seed of Array.from({ length: Number(process.env.FUZZ_SEEDS ?? 24) }, (_, i) => i + 1)) {
    it(`seed ${seed}`, () => simulate(seed, Number(process.env.FUZZ_STEPS ?? 1500)));
  }
});
