// SchedulerState (src/scheduler/state/scheduler-state.ts) driven directly: events in, instructions
// and states out, no processes. Each case is one of the scheduler's decisions (placement, queuing,
// errors, lineage, reference counts, stealing, retiring) or one of the races between its messages;
// a seeded fuzz checks the bookkeeping's invariants after every event of random sequences, and that
// every wanted task settles once the simulated workers have done their work.
import { describe, it, expect } from 'vitest';
import { SchedulerState, type SchedulerEvent, type SchedulerInstruction, type SchedulerConfig, type Task } from '../../src/scheduler/state/scheduler-state.js';
import type { ComputeTask, TaskSpec, WorkerMetrics, WorkerSpec } from '../../src/scheduler/protocol.js';

// ---- plumbing ----

function workerSpec(address: string, nthreads = 1, extra: Partial<WorkerSpec> = {}): WorkerSpec {
  return { address, name: address, nthreads, memoryLimit: 0, resources: {}, pid: 0, ...extra };
}

function spec(key: string, deps: string[] = [], extra: Partial<TaskSpec> = {}): TaskSpec {
  return { key, deps, payload: [Buffer.from(key)], ...extra };
}

const METRICS: WorkerMetrics = { memory: 0, spilled: 0, rss: 0, executing: 0, ready: 0, inFlight: 0, bytesIn: 0, bytesOut: 0, cpu: 0, paused: false };

/** A SchedulerState whose every event is followed by the invariant check. */
class Harness {
  readonly state: SchedulerState;
  /** Everything the state said, in order. */
  readonly log: SchedulerInstruction[] = [];

  constructor(config: Partial<SchedulerConfig> = {}) {
    // The scenarios below spell out one placement at a time: chains placed ahead of their dependency
    // (chainAssignment) and extra room for short tasks (pipelineMs) have tests and a fuzz of their own.
    this.state = new SchedulerState({ stealing: false, chainAssignment: false, pipelineMs: 0, ...config });
  }

  /** Whether every event is followed by the invariant check. */
  checking = true;
  /**
   * Whether the workers acknowledge each free-keys ('freed') at once, before they say anything else:
   * the usual case. Off, a test can deliver a message that crossed the free-keys.
   */
  autoAck = true;
  /** The last events, to say how a broken invariant came about. */
  readonly #recent: string[] = [];

  handle(event: SchedulerEvent): SchedulerInstruction[] {
    const out = this.state.handle(event);
    if (this.autoAck) {
      for (const i of [...out]) {
        if (i.kind === 'worker' && i.op === 'free-keys')
          out.push(...this.state.handle({ type: 'keys-freed', worker: i.worker, keys: (i.body as { keys: string[] }).keys }));
      }
    }
    this.log.push(...out);
    this.#recent.push(
      `${JSON.stringify(event, (k, v) => (k === 'payload' || k === 'metrics' ? undefined : v))}\n    -> ${JSON.stringify(out, (k, v) => (k === 'payload' ? undefined : v))}`,
    );
    if (this.#recent.length > 25) this.#recent.shift();
    if (!this.checking) return out;
    try {
      checkInvariants(this.state);
    } catch (error) {
      (error as Error).message += `\nafter these events:\n  ${this.#recent.join('\n  ')}`;
      throw error;
    }
    return out;
  }

  addWorker(address: string, nthreads = 1, extra: Partial<WorkerSpec> = {}, now = 0): SchedulerInstruction[] {
    return this.handle({ type: 'worker-added', spec: workerSpec(address, nthreads, extra), now });
  }

  submit(tasks: TaskSpec[], wanted: string[] = tasks.map((t) => t.key), client = 'c1'): SchedulerInstruction[] {
    return this.handle({ type: 'update-graph', client, tasks, wanted });
  }

  finish(worker: string, key: string, nbytes = 8, duration = 1): SchedulerInstruction[] {
    return this.handle({ type: 'task-finished', worker, key, nbytes, typeName: 'number', duration });
  }

  fail(worker: string, key: string, message = 'boom'): SchedulerInstruction[] {
    return this.handle({ type: 'task-erred', worker, key, error: { name: 'Error', message }, duration: 1 });
  }

  status(key: string): string {
    return this.state.tasks.get(key)?.status ?? 'forgotten';
  }

  task(key: string): Task {
    const ts = this.state.tasks.get(key);
    if (ts === undefined) throw new Error(`no task ${key}`);
    return ts;
  }
}

/** [worker, key] of each compute-task, in order. */
function computes(out: SchedulerInstruction[]): [string, string][] {
  return out
    .filter((i): i is Extract<SchedulerInstruction, { kind: 'worker' }> => i.kind === 'worker' && i.op === 'compute-task')
    .map((i) => [i.worker, (i.body as ComputeTask).key]);
}

function computeBody(out: SchedulerInstruction[], key: string): ComputeTask {
  const found = out.find((i) => i.kind === 'worker' && i.op === 'compute-task' && (i.body as ComputeTask).key === key);
  if (found === undefined || found.kind !== 'worker') throw new Error(`no compute-task for ${key}`);
  return found.body as ComputeTask;
}

/** [worker, key] of each key a free-keys instruction names. */
function frees(out: SchedulerInstruction[]): [string, string][] {
  const pairs: [string, string][] = [];
  for (const i of out) if (i.kind === 'worker' && i.op === 'free-keys') for (const key of (i.body as { keys: string[] }).keys) pairs.push([i.worker, key]);
  return pairs;
}

function toClient(out: SchedulerInstruction[], op: string): { client: string; key: string; body: Record<string, unknown> }[] {
  return out
    .filter((i): i is Extract<SchedulerInstruction, { kind: 'client' }> => i.kind === 'client' && i.op === op)
    .map((i) => ({ client: i.client, key: (i.body as { key: string }).key, body: i.body as Record<string, unknown> }));
}

function workerOps(out: SchedulerInstruction[], op: string): { worker: string; body: Record<string, unknown> }[] {
  return out
    .filter((i): i is Extract<SchedulerInstruction, { kind: 'worker' }> => i.kind === 'worker' && i.op === op)
    .map((i) => ({ worker: i.worker, body: i.body as Record<string, unknown> }));
}

const ACTIVE = new Set(['waiting', 'queued', 'no-worker', 'processing']);

/** A cheap assertion (the invariants run after every event of the fuzz: vitest's expect is too slow there). */
function check(ok: boolean, message: string): void {
  if (!ok) throw new Error(`invariant broken: ${message}`);
}

/** What must hold between any two events, whatever came before. */
function checkInvariants(state: SchedulerState): void {
  const counts: Record<string, number> = {};
  for (const [key, ts] of state.tasks) {
    const where = `task ${key} (${ts.status})`;
    check(ts.key === key && ts.status !== 'forgotten', `${where}: in the map under its key, not forgotten`);
    counts[ts.status] = (counts[ts.status] ?? 0) + 1;
    for (const dep of ts.deps) {
      check(state.tasks.get(dep.key) === dep, `${where}: its dependency ${dep.key} is known`);
      check(dep.dependents.has(ts), `${where}: ${dep.key} lists it as a dependent`);
    }
    for (const dependent of ts.dependents) {
      check(state.tasks.get(dependent.key) === dependent, `${where}: its dependent ${dependent.key} is known`);
      check(dependent.deps.includes(ts), `${where}: ${dependent.key} lists it as a dependency`);
    }
    // Processing: on exactly one live worker, which lists it, with every input in memory.
    if (ts.status === 'processing') {
      check(ts.processingOn !== null, `${where}: processingOn null`);
      check(state.workers.get(ts.processingOn!.address) === ts.processingOn, `${where}: processing on a removed worker`);
      check(ts.processingOn!.processing.has(ts), `${where}: its worker does not list it`);
      // ... or a chain link placed behind its one dependency, which runs on the same worker.
      const chainLink = ts.deps.length === 1 && ts.deps[0]!.status === 'processing' && ts.deps[0]!.processingOn === ts.processingOn;
      if (!chainLink) for (const dep of ts.deps) check(dep.status === 'memory', `${where}: its dependency ${dep.key} is ${dep.status}`);
    } else {
      check(ts.processingOn === null, `${where}: processingOn set`);
      check(ts.stealingTo === null, `${where}: stealingTo set`);
    }
    // Waiting: for exactly the dependencies not in memory (at least one), each of which is on its way.
    if (ts.status === 'waiting') {
      const notInMemory = ts.deps.filter((d) => d.status !== 'memory').length;
      check(ts.waitingOn === notInMemory, `${where}: waitingOn ${ts.waitingOn}, ${notInMemory} dependencies not in memory`);
      check(ts.waitingOn > 0, `${where}: waiting on nothing`);
      for (const dep of ts.deps)
        check(dep.status === 'memory' || ACTIVE.has(dep.status), `${where}: its dependency ${dep.key} (${dep.status}) will never come`);
    }
    check((ts.status === 'queued') === state.queued.has(ts), `${where}: in the queue or not`);
    check((ts.status === 'no-worker') === state.unrunnable.has(ts), `${where}: unrunnable or not`);
    if (ts.status === 'queued' || ts.status === 'no-worker') {
      for (const dep of ts.deps) check(dep.status === 'memory', `${where}: its dependency ${dep.key} is ${dep.status}`);
    }
    // In memory: held by live workers that list it, and needed; anything else: held by none.
    if (ts.status === 'memory') {
      check(ts.whoHas.size > 0, `${where}: held by nobody`);
      const needed = ts.wantedBy.size > 0 || [...ts.dependents].some((d) => ACTIVE.has(d.status));
      check(needed, `${where}: in memory, needed by nothing`);
    } else {
      check(ts.whoHas.size === 0, `${where}: has holders`);
    }
    for (const ws of ts.whoHas) {
      check(state.workers.get(ws.address) === ws, `${where}: held by a removed worker`);
      check(ws.hasWhat.has(ts), `${where}: ${ws.address} does not list it`);
    }
    // Nothing kept that nothing can need.
    check(ts.wantedBy.size > 0 || ts.dependents.size > 0, `${where}: neither wanted nor depended on, yet not forgotten`);
  }
  for (const [status, count] of Object.entries(state.counts))
    check(count === (counts[status] ?? 0), `counts.${status} is ${count}, not ${counts[status] ?? 0}`);
  for (const ts of state.queued) check(ts.status === 'queued', `queued ${ts.key} is ${ts.status}`);
  for (const ts of state.unrunnable) check(ts.status === 'no-worker', `unrunnable ${ts.key} is ${ts.status}`);
  for (const [address, ws] of state.workers) {
    check(ws.address === address && ws.status !== 'closed', `${address}: listed, not closed`);
    let nbytes = 0;
    for (const ts of ws.hasWhat) {
      check(state.tasks.get(ts.key) === ts, `${address} holds a forgotten task ${ts.key}`);
      check(ts.whoHas.has(ws), `${address} holds ${ts.key}, which does not list it`);
      nbytes += ts.nbytes;
    }
    check(ws.nbytes === nbytes, `${address}.nbytes ${ws.nbytes}, holds ${nbytes}`);
    const used: Record<string, number> = {};
    for (const ts of ws.processing) {
      check(ts.processingOn === ws, `${address} processing ${ts.key}, which is on ${ts.processingOn?.address}`);
      check(state.tasks.get(ts.key) === ts, `${address} processing a forgotten task ${ts.key}`);
      if (ts.resources !== null) for (const [r, n] of Object.entries(ts.resources)) used[r] = (used[r] ?? 0) + n;
    }
    for (const r of new Set([...Object.keys(used), ...Object.keys(ws.usedResources)])) {
      check((ws.usedResources[r] ?? 0) === (used[r] ?? 0), `${address} uses ${ws.usedResources[r]} ${r}, its tasks ${used[r] ?? 0}`);
    }
    check(ws.processing.size > 0 || ws.occupancy === 0, `${address}.occupancy ${ws.occupancy} with nothing processing`);
    check(ws.occupancy >= 0, `${address}.occupancy ${ws.occupancy}`);
  }
  // Root tasks wait in the queue only while no running worker has room below its saturation.
  if (state.queued.size > 0) {
    for (const ws of state.workers.values()) {
      if (ws.status !== 'running') continue;
      check(ws.processing.size >= Math.ceil(state.config.workerSaturation * ws.nthreads), `${ws.address} has room while root tasks are queued`);
    }
  }
}

// ---- cases ----

describe('SchedulerState: graphs', () => {
  it('runs a diamond in dependency order, each task where its inputs are, and frees intermediates once used', () => {
    const h = new Harness();
    h.addWorker('w1');
    // a -> (b, c) -> d; the client wants only d.
    let out = h.submit([spec('a'), spec('b', ['a']), spec('c', ['a']), spec('d', ['b', 'c'])], ['d']);
    expect(computes(out)).toEqual([['w1', 'a']]);
    expect(h.status('b')).toBe('waiting');
    expect(h.task('d').waitingOn).toBe(2);
    out = h.finish('w1', 'a');
    expect(
      computes(out)
        .map(([, k]) => k)
        .sort(),
    ).toEqual(['b', 'c']);
    // The dependency is on w1 already: nothing to fetch.
    expect(computeBody(out, 'b').deps).toEqual({ a: [] });
    expect(h.status('a')).toBe('memory');
    out = h.finish('w1', 'b');
    expect(frees(out)).toEqual([]); // c still needs a
    out = h.finish('w1', 'c');
    expect(computes(out)).toEqual([['w1', 'd']]);
    expect(frees(out)).toEqual([['w1', 'a']]); // nothing needs a now
    expect(h.status('a')).toBe('released');
    out = h.finish('w1', 'd');
    expect(toClient(out, 'key-in-memory')).toEqual([{ client: 'c1', key: 'd', body: { key: 'd', type: 'number' } }]);
    expect(frees(out).sort()).toEqual([
      ['w1', 'b'],
      ['w1', 'c'],
    ]);
    expect(h.status('d')).toBe('memory');
    // Released by the client: everything is forgotten.
    out = h.handle({ type: 'release-keys', client: 'c1', keys: ['d'] });
    expect(frees(out)).toEqual([['w1', 'd']]);
    expect(h.state.tasks.size).toBe(0);
  });

  it('gives priorities in submission order, dependencies first; a higher user priority runs first', () => {
    const h = new Harness();
    h.submit([spec('x2', ['x1']), spec('x1'), spec('y', [], { priority: 5 })]);
    // Dependencies get lower (earlier) order numbers than their dependents.
    expect(h.task('x1').priority[1]).toBeLessThan(h.task('x2').priority[1]);
    expect(h.task('y').priority[0]).toBe(-5);
    // No worker yet: nothing runs; the first worker takes the root tasks, the most urgent first.
    expect(h.status('x1')).toBe('no-worker');
    const out = h.addWorker('w1');
    expect(computes(out).map(([, k]) => k)).toEqual(['y', 'x1']);
  });

  it('a key submitted twice (the same pure computation) is one task, and a later client is told of its result', () => {
    const h = new Harness();
    h.addWorker('w1');
    h.submit([spec('a')], ['a'], 'c1');
    let out = h.submit([spec('a')], ['a'], 'c2');
    expect(computes(out)).toEqual([]);
    out = h.finish('w1', 'a');
    expect(
      toClient(out, 'key-in-memory')
        .map((m) => m.client)
        .sort(),
    ).toEqual(['c1', 'c2']);
    out = h.submit([spec('a')], ['a'], 'c3');
    expect(toClient(out, 'key-in-memory')).toEqual([{ client: 'c3', key: 'a', body: { key: 'a', type: 'number' } }]);
    // Only once every client has let go is it freed.
    h.handle({ type: 'release-keys', client: 'c1', keys: ['a'] });
    h.handle({ type: 'client-gone', client: 'c2' });
    expect(h.status('a')).toBe('memory');
    out = h.handle({ type: 'release-keys', client: 'c3', keys: ['a'] });
    expect(frees(out)).toEqual([['w1', 'a']]);
    expect(h.state.tasks.size).toBe(0);
  });

  it('a dependency cycle errs with ERR_SCHEDULER_CYCLE, and what depends on it errs too; nothing runs', () => {
    const h = new Harness();
    h.addWorker('w1');
    const out = h.submit([spec('p', ['q']), spec('q', ['p']), spec('r', ['q']), spec('s')]);
    const erred = toClient(out, 'task-erred');
    expect(erred.map((m) => m.key).sort()).toEqual(['p', 'q', 'r']);
    for (const m of erred) expect((m.body.error as { code: string }).code).toBe('ERR_SCHEDULER_CYCLE');
    expect(computes(out)).toEqual([['w1', 's']]);
    h.handle({ type: 'client-gone', client: 'c1' });
  });

  it('a self-dependency is a cycle too', () => {
    const h = new Harness();
    const out = h.submit([spec('p', ['p'])]);
    expect((toClient(out, 'task-erred')[0]!.body.error as { code: string }).code).toBe('ERR_SCHEDULER_CYCLE');
  });

  it('a dependency the scheduler does not know errs with ERR_SCHEDULER_MISSING_KEY; so does wanting an unknown key', () => {
    const h = new Harness();
    h.addWorker('w1');
    let out = h.submit([spec('b', ['nowhere']), spec('c', ['b'])]);
    const erred = toClient(out, 'task-erred');
    expect(erred.map((m) => m.key).sort()).toEqual(['b', 'c']);
    expect((erred.find((m) => m.key === 'b')!.body.error as { code: string }).code).toBe('ERR_SCHEDULER_MISSING_KEY');
    // c's error names its origin.
    expect((erred.find((m) => m.key === 'c')!.body.error as { message: string }).message).toContain('in its dependency b');
    expect(computes(out)).toEqual([]);
    out = h.submit([], ['ghost']);
    expect(toClient(out, 'task-erred')).toMatchObject([{ key: 'ghost', body: { error: { code: 'ERR_SCHEDULER_MISSING_KEY' } } }]);
    h.handle({ type: 'client-gone', client: 'c1' });
    expect(h.state.tasks.size).toBe(0);
  });

  it('a graph that builds on an earlier result uses it where it is; one on a released result recomputes it from its lineage', () => {
    const h = new Harness();
    h.addWorker('w1');
    h.addWorker('w2');
    h.submit([spec('a')]);
    const [[holder]] = computes(h.log) as [[string, string]];
    h.finish(holder, 'a', 1e9);
    // b needs a (1 GB on its holder): it goes there.
    let out = h.submit([spec('b', ['a'])], ['b']);
    expect(computes(out)).toEqual([[holder, 'b']]);
    h.finish(holder, 'b');
    // The client lets a go: b keeps it (a released task stays for lineage while a dependent lives).
    out = h.handle({ type: 'release-keys', client: 'c1', keys: ['a'] });
    expect(frees(out)).toEqual([[holder, 'a']]);
    expect(h.status('a')).toBe('released');
    // c needs a again: a is recomputed first.
    out = h.submit([spec('c', ['a'])], ['c']);
    expect(computes(out).map(([, k]) => k)).toEqual(['a']);
    expect(h.status('c')).toBe('waiting');
  });
});

describe('SchedulerState: root-task queuing', () => {
  it('holds root tasks back past saturation, and hands them out as tasks finish, most urgent first', () => {
    const h = new Harness({ workerSaturation: 1 });
    h.addWorker('w1', 2);
    const keys = Array.from({ length: 10 }, (_, i) => `r${i}`);
    let out = h.submit(keys.map((k) => spec(k)));
    expect(computes(out).map(([, k]) => k)).toEqual(['r0', 'r1']);
    expect(h.state.counts.queued).toBe(8);
    out = h.finish('w1', 'r0');
    expect(computes(out).map(([, k]) => k)).toEqual(['r2']);
    // A new worker takes what fits at once.
    out = h.addWorker('w2', 3);
    expect(computes(out).map(([, k]) => k)).toEqual(['r3', 'r4', 'r5']);
    expect(h.state.counts.queued).toBe(4);
    // Tasks with dependencies are never queued: they go to a worker straight away.
    out = h.submit([spec('dep', ['r0'])], ['dep']);
    expect(computes(out)).toEqual([['w1', 'dep']]);
  });

  it('a paused worker gets no queued work; unpaused, it does', () => {
    const h = new Harness({ workerSaturation: 1 });
    h.addWorker('w1');
    h.submit([spec('r0'), spec('r1')]);
    h.handle({ type: 'worker-status', worker: 'w1', paused: true });
    let out = h.finish('w1', 'r0');
    expect(computes(out)).toEqual([]);
    out = h.handle({ type: 'worker-status', worker: 'w1', paused: false });
    expect(computes(out)).toEqual([['w1', 'r1']]);
  });

  it('queued tasks become unrunnable when the last worker leaves, and run when one comes', () => {
    const h = new Harness({ workerSaturation: 1 });
    h.addWorker('w1');
    h.submit([spec('r0'), spec('r1'), spec('r2')]);
    h.handle({ type: 'worker-removed', worker: 'w1', reason: 'test' });
    expect(h.state.counts['no-worker']).toBe(3);
    const out = h.addWorker('w2');
    expect(computes(out).length).toBeGreaterThan(0);
    expect(h.state.counts['no-worker'] + h.state.counts.queued + h.state.counts.processing).toBe(3);
  });
});

describe('SchedulerState: placement', () => {
  it('a task goes where most of its input bytes are', () => {
    const h = new Harness({ workerSaturation: 10 });
    h.addWorker('w1');
    h.addWorker('w2');
    h.submit([spec('big'), spec('small')]);
    const placed = Object.fromEntries(computes(h.log).map(([w, k]) => [k, w]));
    h.finish(placed.big!, 'big', 500e6);
    h.finish(placed.small!, 'small', 10);
    const out = h.submit([spec('join', ['big', 'small'])], ['join']);
    expect(computes(out)).toEqual([[placed.big!, 'join']]);
    // It is told where the other input is.
    expect(computeBody(out, 'join').deps).toEqual({ big: [], small: [placed.small!] });
  });

  it('restrictions by address or name: only those workers, else no-worker until one joins', () => {
    const h = new Harness();
    h.addWorker('w1');
    h.addWorker('w2', 1, { name: 'gpu-box' });
    let out = h.submit([spec('t1', [], { workers: ['gpu-box'] }), spec('t2', [], { workers: ['w1'] }), spec('t3', [], { workers: ['w9'] })]);
    expect(computes(out).sort()).toEqual([
      ['w1', 't2'],
      ['w2', 't1'],
    ]);
    expect(h.status('t3')).toBe('no-worker');
    out = h.addWorker('w9');
    expect(computes(out)).toEqual([['w9', 't3']]);
  });

  it('resources: a task waits for a worker with the resource free, and holds it while it runs', () => {
    const h = new Harness();
    h.addWorker('cpu', 4);
    h.addWorker('gpu', 4, { resources: { GPU: 1 } });
    let out = h.submit([spec('g1', [], { resources: { GPU: 1 } }), spec('g2', [], { resources: { GPU: 1 } })]);
    expect(computes(out)).toEqual([['gpu', 'g1']]);
    expect(h.status('g2')).toBe('no-worker');
    expect(computeBody(out, 'g1').resources).toEqual({ GPU: 1 });
    out = h.finish('gpu', 'g1');
    expect(computes(out)).toEqual([['gpu', 'g2']]);
    // A resource no worker has: unrunnable, not an error.
    out = h.submit([spec('tpu', [], { resources: { TPU: 1 } })]);
    expect(h.status('tpu')).toBe('no-worker');
  });
});

describe('SchedulerState: errors', () => {
  it('a failing task is retried, then errs, and its dependents err with it (naming the origin)', () => {
    const h = new Harness();
    h.addWorker('w1');
    h.submit([spec('a', [], { retries: 1 }), spec('b', ['a']), spec('c', ['b'])], ['a', 'c']);
    let out = h.fail('w1', 'a');
    expect(computes(out)).toEqual([['w1', 'a']]);
    expect(toClient(out, 'task-erred')).toEqual([]);
    out = h.fail('w1', 'a', 'again');
    const erred = toClient(out, 'task-erred');
    expect(erred.map((m) => m.key).sort()).toEqual(['a', 'c']);
    expect(erred.find((m) => m.key === 'c')!.body.error).toMatchObject({ message: 'again (in its dependency a)' });
    expect(h.status('b')).toBe('erred');
    // A new task on an erred one errs at once.
    out = h.submit([spec('d', ['c'])], ['d']);
    expect(toClient(out, 'task-erred').map((m) => m.key)).toEqual(['d']);
    // Released, the erred tasks are forgotten; the key can then be computed afresh.
    h.handle({ type: 'client-gone', client: 'c1' });
    expect(h.state.tasks.size).toBe(0);
    out = h.submit([spec('a')]);
    expect(computes(out)).toEqual([['w1', 'a']]);
  });

  it('a stale failure (the task moved on) changes nothing', () => {
    const h = new Harness();
    h.addWorker('w1');
    h.addWorker('w2');
    h.submit([spec('a')]);
    const [[on]] = computes(h.log) as [[string, string]];
    const other = on === 'w1' ? 'w2' : 'w1';
    h.fail(other, 'a');
    expect(h.status('a')).toBe('processing');
    h.finish(on, 'a');
    expect(h.status('a')).toBe('memory');
    h.fail(on, 'a');
    expect(h.status('a')).toBe('memory');
  });

  it('KilledWorker after allowedFailures + 1 deaths of the workers running it; its dependents err too', () => {
    const h = new Harness({ allowedFailures: 3 });
    h.submit([spec('bomb'), spec('after', ['bomb'])], ['after']);
    for (let death = 1; death <= 4; death++) {
      const out = h.addWorker(`w${death}`);
      expect(computes(out)).toEqual([[`w${death}`, 'bomb']]);
      const gone = h.handle({ type: 'worker-removed', worker: `w${death}`, reason: 'SIGKILL' });
      if (death < 4) {
        expect(h.status('bomb')).toBe('no-worker');
        expect(h.task('bomb').suspicious).toBe(death);
      } else {
        expect(h.status('bomb')).toBe('erred');
        expect(toClient(gone, 'task-erred')).toMatchObject([{ key: 'after', body: { error: { name: 'KilledWorker', code: 'ERR_SCHEDULER_KILLED_WORKER' } } }]);
      }
    }
  });
});

describe('SchedulerState: lost workers', () => {
  it('a worker dying with unique results: they are recomputed from their lineage, and dependents wait again', () => {
    const h = new Harness({ workerSaturation: 10 });
    h.addWorker('w1');
    h.addWorker('w2');
    h.submit([spec('a', [], { workers: ['w1'] }), spec('b', [], { workers: ['w2'] }), spec('c', ['a', 'b'], { workers: ['w2'] })], ['c']);
    h.finish('w1', 'a');
    // c is processing on w2 (fetching a from w1) when w1 dies.
    let out = h.finish('w2', 'b');
    expect(computes(out)).toEqual([['w2', 'c']]);
    expect(computeBody(out, 'c').deps).toEqual({ a: ['w1'], b: [] });
    out = h.handle({ type: 'worker-removed', worker: 'w1', reason: 'SIGKILL' });
    // c stops (free-keys to w2), and waits for a, whose restriction to w1 leaves it nowhere to run.
    expect(frees(out)).toEqual([['w2', 'c']]);
    expect(h.status('c')).toBe('waiting');
    expect(h.status('a')).toBe('no-worker');
    expect(h.task('c').waitingOn).toBe(1);
    out = h.addWorker('w1');
    expect(computes(out)).toEqual([['w1', 'a']]);
    out = h.finish('w1', 'a');
    expect(computes(out)).toEqual([['w2', 'c']]);
    out = h.finish('w2', 'c');
    expect(toClient(out, 'key-in-memory').map((m) => m.key)).toEqual(['c']);
  });

  it('the other workers hear of a removal first (remove-peer), before where its work went', () => {
    const h = new Harness();
    h.addWorker('w1');
    h.addWorker('w2');
    h.addWorker('w3');
    h.submit([spec('a', [], { workers: ['w1'] })]);
    h.finish('w1', 'a');
    h.submit([spec('b', ['a'], { workers: ['w2'] })], ['b']);
    const out = h.handle({ type: 'worker-removed', worker: 'w1', reason: 'timed out' });
    const removals = workerOps(out, 'remove-peer');
    expect(removals.map((r) => r.worker).sort()).toEqual(['w2', 'w3']);
    for (const r of removals) expect(r.body).toEqual({ address: 'w1' });
    // Before the free-keys that stops b on w2.
    const first = out.findIndex((i) => i.kind === 'worker' && i.op !== 'remove-peer');
    const last = out.map((i) => i.kind === 'worker' && i.op === 'remove-peer').lastIndexOf(true);
    expect(last).toBeLessThan(first);
    expect(frees(out)).toEqual([['w2', 'b']]);
  });

  it('a lost result that nothing needs is not recomputed (and is forgotten)', () => {
    const h = new Harness();
    h.addWorker('w1');
    h.submit([spec('a'), spec('b', ['a'])], ['b']);
    h.finish('w1', 'a');
    h.finish('w1', 'b');
    h.addWorker('w2');
    const out = h.handle({ type: 'worker-removed', worker: 'w1', reason: 'SIGKILL' });
    // b is wanted: recomputed, and a with it; nothing else.
    expect(computes(out).map(([, k]) => k)).toEqual(['a']);
    h.handle({ type: 'release-keys', client: 'c1', keys: ['b'] });
    expect(h.state.tasks.size).toBe(0);
  });

  it('scattered data whose only copy is lost errs with ERR_SCHEDULER_LOST (it has no lineage)', () => {
    const h = new Harness();
    h.addWorker('w1');
    h.addWorker('w2');
    h.handle({ type: 'scattered', client: 'c1', worker: 'w1', keys: [['s', 100]] });
    expect(h.status('s')).toBe('memory');
    h.submit([spec('t', ['s'])], ['t']);
    const out = h.handle({ type: 'worker-removed', worker: 'w1', reason: 'SIGKILL' });
    const erred = toClient(out, 'task-erred');
    expect(erred.map((m) => m.key).sort()).toEqual(['s', 't']);
    expect(erred.find((m) => m.key === 's')!.body.error).toMatchObject({ code: 'ERR_SCHEDULER_LOST' });
  });

  it('a worker silent past workerTimeoutMs is closed and removed at the next tick; its tasks move', () => {
    const h = new Harness({ workerTimeoutMs: 1000 });
    h.addWorker('w1', 1, {}, 0);
    h.addWorker('w2', 1, {}, 0);
    h.submit([spec('a', [], { workers: ['w1', 'w2'] }), spec('b', [], { workers: ['w1', 'w2'] })]);
    const placed = Object.fromEntries(computes(h.log).map(([w, k]) => [k, w]));
    expect(new Set(Object.values(placed)).size).toBe(2);
    h.handle({ type: 'heartbeat', worker: 'w2', now: 900, metrics: METRICS });
    expect(h.handle({ type: 'tick', now: 1000 })).toEqual([]);
    const out = h.handle({ type: 'tick', now: 1500 });
    expect(out.filter((i) => i.kind === 'close-worker')).toEqual([
      { kind: 'close-worker', worker: 'w1', reason: expect.stringContaining('no heartbeat'), removed: true },
    ]);
    expect(h.state.workers.has('w1')).toBe(false);
    const moved = placed.a === 'w1' ? 'a' : 'b';
    expect(h.task(moved).processingOn?.address).toBe('w2');
    // w2 kept beating: it stays.
    h.handle({ type: 'heartbeat', worker: 'w2', now: 2000, metrics: METRICS });
    h.handle({ type: 'tick', now: 2500 });
    expect(h.state.workers.has('w2')).toBe(true);
  });

  it('a result reported by a worker already removed is ignored; one computed elsewhere, unasked, counts', () => {
    const h = new Harness();
    h.addWorker('w1');
    h.submit([spec('a')]);
    h.handle({ type: 'worker-removed', worker: 'w1', reason: 'test' });
    h.finish('w1', 'a');
    expect(h.status('a')).toBe('no-worker');
    h.addWorker('w2');
    h.addWorker('w3');
    expect(h.task('a').processingOn?.address).toBe('w2');
    // w3 ran it for tasks of its own (a dependency resumed there): its result counts, w2 stops.
    const out = h.finish('w3', 'a');
    expect(h.status('a')).toBe('memory');
    expect([...h.task('a').whoHas].map((w) => w.address)).toEqual(['w3']);
    expect(frees(out)).toEqual([['w2', 'a']]);
  });

  it('what a worker says of a key before it has acknowledged a free-keys of it crossed that free-keys: ignored', () => {
    const h = new Harness({ workerSaturation: 10 });
    h.autoAck = false;
    h.addWorker('w1');
    h.addWorker('w2');
    h.submit([spec('a', [], { workers: ['w1'] }), spec('b', ['a'], { workers: ['w2'] })], ['a', 'b']);
    h.finish('w1', 'a');
    // b is requeued on w2 (a's holder went missing), then placed on w2 again: a free-keys and a compute-task.
    h.handle({ type: 'added-keys', worker: 'w2', keys: [['a', 8]] });
    let out = h.handle({ type: 'missing-data', worker: 'w2', key: 'a', holder: 'w1' });
    expect(frees(out)).toEqual([['w2', 'b']]);
    expect(h.task('b').processingOn?.address).toBe('w2');
    // A result (and an error) of the first run, sent before w2 had the free-keys: not this run's.
    out = h.finish('w2', 'b');
    expect(h.status('b')).toBe('processing');
    h.fail('w2', 'b');
    expect(h.status('b')).toBe('processing');
    // A replica it reported before a free-keys of it: ignored too.
    h.handle({ type: 'release-keys', client: 'c1', keys: ['b'] });
    h.submit([spec('b', ['a'], { workers: ['w2'] })], ['b']);
    // w2 acknowledges: its next result counts.
    h.handle({ type: 'keys-freed', worker: 'w2', keys: ['b'] });
    h.handle({ type: 'keys-freed', worker: 'w2', keys: ['b'] });
    out = h.finish('w2', 'b');
    expect(h.status('b')).toBe('memory');
    expect(toClient(out, 'key-in-memory').map((m) => m.key)).toEqual(['b']);
  });

  it('added-keys sent before a free-keys of the same key arrived at the worker does not make it a holder', () => {
    const h = new Harness();
    h.autoAck = false;
    h.addWorker('w1');
    h.addWorker('w2');
    h.submit([spec('a', [], { workers: ['w1'] })], ['a']);
    h.finish('w1', 'a');
    h.handle({ type: 'added-keys', worker: 'w2', keys: [['a', 8]] });
    // The client lets go of a (free-keys to both), then wants it again: recomputed on w1.
    h.handle({ type: 'release-keys', client: 'c1', keys: ['a'] });
    h.submit([spec('a', [], { workers: ['w1'] })], ['a']);
    h.handle({ type: 'keys-freed', worker: 'w1', keys: ['a'] });
    h.finish('w1', 'a');
    // w2 had said added-keys again before its free-keys arrived: stale.
    h.handle({ type: 'added-keys', worker: 'w2', keys: [['a', 8]] });
    expect([...h.task('a').whoHas].map((w) => w.address)).toEqual(['w1']);
    h.handle({ type: 'keys-freed', worker: 'w2', keys: ['a'] });
    h.handle({ type: 'added-keys', worker: 'w2', keys: [['a', 8]] });
    expect([...h.task('a').whoHas].map((w) => w.address).sort()).toEqual(['w1', 'w2']);
  });
});

describe('SchedulerState: missing data', () => {
  it('a dependency a peer does not have after all: the replica is dropped and the dependent asks the others', () => {
    const h = new Harness({ workerSaturation: 10 });
    h.addWorker('w1');
    h.addWorker('w2');
    h.addWorker('w3');
    h.submit([spec('a', [], { workers: ['w1'] })], ['a']);
    h.finish('w1', 'a', 10);
    h.handle({ type: 'added-keys', worker: 'w2', keys: [['a', 10]] });
    h.submit([spec('b', ['a'], { workers: ['w3'] })], ['b']);
    let out = h.handle({ type: 'missing-data', worker: 'w3', key: 'a', holder: 'w1' });
    expect([...h.task('a').whoHas].map((w) => w.address)).toEqual(['w2']);
    // b goes again to w3, told only of w2.
    expect(frees(out)).toEqual([['w3', 'b']]);
    expect(computeBody(out, 'b').deps).toEqual({ a: ['w2'] });
    // w2 does not have it either: a is recomputed, b waits for it.
    out = h.handle({ type: 'missing-data', worker: 'w3', key: 'a', holder: 'w2' });
    expect(h.task('a').whoHas.size).toBe(0);
    expect(h.status('b')).toBe('waiting');
    expect(computes(out).map(([, k]) => k)).toEqual(['a']);
    expect(h.state.counts.processing).toBe(1);
  });

  it('a worker told it holds a dependency that it does not (holder ""): its replica is dropped, not asked for again', () => {
    const h = new Harness({ workerSaturation: 10 });
    h.addWorker('w1');
    h.addWorker('w2');
    h.submit([spec('a', [], { workers: ['w1'] })], ['a']);
    h.finish('w1', 'a', 10);
    h.submit([spec('b', ['a'], { workers: ['w1'] })], ['b']);
    const out = h.handle({ type: 'missing-data', worker: 'w1', key: 'a', holder: '' });
    expect(h.task('a').whoHas.size).toBe(0);
    expect(computes(out).map(([w, k]) => `${w}:${k}`)).toEqual(['w1:a']);
    expect(h.status('b')).toBe('waiting');
  });
});

describe('SchedulerState: releasing and forgetting', () => {
  it('frees a result once nothing needs it, never before; forgets tasks once nothing can', () => {
    const h = new Harness({ workerSaturation: 10 });
    h.addWorker('w1');
    h.submit([spec('a'), spec('b', ['a']), spec('c', ['a'])], ['b', 'c']);
    h.finish('w1', 'a');
    // The client lets go of c before it ran: a stays for b, c is forgotten (it was stopped).
    let out = h.handle({ type: 'release-keys', client: 'c1', keys: ['c'] });
    expect(frees(out)).toEqual([['w1', 'c']]);
    expect(h.status('c')).toBe('forgotten');
    expect(h.status('a')).toBe('memory');
    out = h.finish('w1', 'b');
    expect(frees(out)).toEqual([['w1', 'a']]);
    // A late result of the forgotten c is dropped by its worker.
    out = h.finish('w1', 'c');
    expect(frees(out)).toEqual([['w1', 'c']]);
    expect(h.status('c')).toBe('forgotten');
    out = h.handle({ type: 'release-keys', client: 'c1', keys: ['b'] });
    expect(frees(out)).toEqual([['w1', 'b']]);
    expect(h.state.tasks.size).toBe(0);
  });

  it('releasing a key another client wants changes nothing; the last client gone frees it from every holder', () => {
    const h = new Harness();
    h.addWorker('w1');
    h.addWorker('w2');
    h.submit([spec('a')], ['a'], 'c1');
    h.submit([], ['a'], 'c2');
    const [[on]] = computes(h.log) as [[string, string]];
    h.finish(on, 'a');
    h.handle({ type: 'added-keys', worker: on === 'w1' ? 'w2' : 'w1', keys: [['a', 8]] });
    expect(frees(h.handle({ type: 'release-keys', client: 'c1', keys: ['a'] }))).toEqual([]);
    expect(frees(h.handle({ type: 'client-gone', client: 'c2' })).sort()).toEqual([
      ['w1', 'a'],
      ['w2', 'a'],
    ]);
    expect(h.state.tasks.size).toBe(0);
  });

  it('a replica reported for a key the scheduler let go of is freed on that worker', () => {
    const h = new Harness();
    h.addWorker('w1');
    const out = h.handle({ type: 'added-keys', worker: 'w1', keys: [['gone', 8]] });
    expect(frees(out)).toEqual([['w1', 'gone']]);
  });
});

describe('SchedulerState: cancel', () => {
  it('cancels a task and what depends on it (their clients hear so), stops their work, and forgets them', () => {
    const h = new Harness({ workerSaturation: 10 });
    h.addWorker('w1');
    h.submit([spec('a'), spec('b', ['a']), spec('c', ['b'])], ['a', 'c'], 'c1');
    h.submit([], ['b'], 'c2');
    h.finish('w1', 'a');
    const out = h.handle({ type: 'cancel-keys', client: 'c1', keys: ['b'] });
    expect(
      toClient(out, 'cancelled')
        .map((m) => `${m.client}:${m.key}`)
        .sort(),
    ).toEqual(['c1:c', 'c2:b']);
    expect(frees(out)).toContainEqual(['w1', 'b']);
    expect(h.status('b')).toBe('forgotten');
    expect(h.status('c')).toBe('forgotten');
    // a, in memory and wanted, stays.
    expect(h.status('a')).toBe('memory');
    // The clients' later releases of the cancelled keys are no-ops; releasing a forgets everything.
    h.handle({ type: 'release-keys', client: 'c1', keys: ['c'] });
    h.handle({ type: 'release-keys', client: 'c2', keys: ['b'] });
    h.handle({ type: 'release-keys', client: 'c1', keys: ['a'] });
    expect(h.state.tasks.size).toBe(0);
  });

  it('cancelling a root task cancels the whole graph above it, and leaves nothing behind', () => {
    const h = new Harness();
    h.addWorker('w1');
    h.submit([spec('a'), spec('b', ['a']), spec('c', ['b'])], ['c']);
    const out = h.handle({ type: 'cancel-keys', client: 'c1', keys: ['a'] });
    expect(toClient(out, 'cancelled').map((m) => m.key)).toEqual(['c']);
    expect(frees(out)).toEqual([['w1', 'a']]);
    expect(h.state.tasks.size).toBe(0);
    // A late result of the cancelled a is dropped.
    expect(frees(h.finish('w1', 'a'))).toEqual([['w1', 'a']]);
  });

  it('a cancelled key may be submitted again and computes', () => {
    const h = new Harness();
    h.addWorker('w1');
    h.submit([spec('a')]);
    h.handle({ type: 'cancel-keys', client: 'c1', keys: ['a'] });
    const out = h.submit([spec('a')]);
    expect(computes(out)).toEqual([['w1', 'a']]);
  });
});

describe('SchedulerState: work stealing', () => {
  function busyAndIdle(): { h: Harness; stealable: string[] } {
    const h = new Harness({ stealing: true, workerSaturation: 100 });
    h.addWorker('busy');
    // Placed before the idle worker joins: all on 'busy'.
    h.submit(Array.from({ length: 6 }, (_, i) => spec(`t${i}`)));
    h.addWorker('idle');
    return { h, stealable: ['t5', 't4', 't3', 't2', 't1', 't0'] };
  }

  it('asks the victim for its least urgent unstarted task; moves it only once the victim says it had not started', () => {
    const { h } = busyAndIdle();
    let out = h.handle({ type: 'tick', now: 1 });
    const requests = workerOps(out, 'steal-request');
    expect(requests).toEqual([{ worker: 'busy', body: { key: 't5' } }]);
    expect(h.task('t5').stealingTo?.address).toBe('idle');
    // A second tick does not ask again for the same task.
    out = h.handle({ type: 'tick', now: 2 });
    expect(workerOps(out, 'steal-request').map((r) => r.body.key)).not.toContain('t5');
    out = h.handle({ type: 'steal-response', worker: 'busy', key: 't5', stolen: true });
    expect(computes(out)).toEqual([['idle', 't5']]);
    expect(h.task('t5').processingOn?.address).toBe('idle');
  });

  it('a refused steal (the task had started) leaves it where it is', () => {
    const { h } = busyAndIdle();
    h.handle({ type: 'tick', now: 1 });
    const out = h.handle({ type: 'steal-response', worker: 'busy', key: 't5', stolen: false });
    expect(computes(out)).toEqual([]);
    expect(h.task('t5').processingOn?.address).toBe('busy');
    expect(h.task('t5').stealingTo).toBeNull();
  });

  it('a steal racing a task-finished: the result counts, the late response changes nothing', () => {
    const { h } = busyAndIdle();
    h.handle({ type: 'tick', now: 1 });
    h.finish('busy', 't5');
    expect(h.status('t5')).toBe('memory');
    const out = h.handle({ type: 'steal-response', worker: 'busy', key: 't5', stolen: false });
    expect(out).toEqual([]);
    expect(h.status('t5')).toBe('memory');
  });

  it('the thief dies before the victim answers: the stolen task is placed afresh', () => {
    const { h } = busyAndIdle();
    h.handle({ type: 'tick', now: 1 });
    h.handle({ type: 'worker-removed', worker: 'idle', reason: 'SIGKILL' });
    const out = h.handle({ type: 'steal-response', worker: 'busy', key: 't5', stolen: true });
    expect(computes(out)).toEqual([['busy', 't5']]);
  });

  it('the victim dies before it answers: its tasks move, the late answer is ignored', () => {
    const { h } = busyAndIdle();
    h.handle({ type: 'tick', now: 1 });
    h.handle({ type: 'worker-removed', worker: 'busy', reason: 'SIGKILL' });
    expect(h.task('t5').processingOn?.address).toBe('idle');
    const out = h.handle({ type: 'steal-response', worker: 'busy', key: 't5', stolen: true });
    expect(out).toEqual([]);
  });

  it('the stolen task was cancelled meanwhile: the answer is ignored', () => {
    const { h } = busyAndIdle();
    h.handle({ type: 'tick', now: 1 });
    h.handle({ type: 'cancel-keys', client: 'c1', keys: ['t5'] });
    expect(h.handle({ type: 'steal-response', worker: 'busy', key: 't5', stolen: true })).toEqual([]);
  });
});

describe('SchedulerState: retiring workers', () => {
  it('replicates unique results to the others first, moves unstarted work, then closes the worker', () => {
    const h = new Harness({ workerSaturation: 10 });
    h.addWorker('w1');
    h.addWorker('w2');
    h.submit([spec('a', [], { workers: ['w1'] }), spec('b', [], { workers: ['w1', 'w2'] })], ['a', 'b']);
    h.finish('w1', 'a', 100);
    const bOn = h.task('b').processingOn!.address;
    let out = h.handle({ type: 'retire-workers', request: 1, workers: ['w1'] });
    expect(workerOps(out, 'acquire-replicas')).toEqual([{ worker: 'w2', body: { keys: { a: ['w1'] } } }]);
    expect(out.some((i) => i.kind === 'close-worker')).toBe(false);
    if (bOn === 'w1') expect(computes(out)).toEqual([['w2', 'b']]);
    expect(h.state.workers.get('w1')!.status).toBe('retiring');
    // Nothing new goes to a retiring worker.
    out = h.submit([spec('c', [], { workers: ['w1', 'w2'] })], ['c']);
    expect(computes(out)).toEqual([['w2', 'c']]);
    out = h.handle({ type: 'added-keys', worker: 'w2', keys: [['a', 100]] });
    expect(out.filter((i) => i.kind === 'close-worker')).toEqual([{ kind: 'close-worker', worker: 'w1', reason: 'retired' }]);
    expect(out.filter((i) => i.kind === 'retired')).toEqual([{ kind: 'retired', request: 1, workers: ['w1'] }]);
    expect(h.state.workers.has('w1')).toBe(false);
    expect(h.status('a')).toBe('memory');
  });

  it('a worker with nothing unique retires at once; an unknown one is no retirement at all', () => {
    const h = new Harness();
    h.addWorker('w1');
    h.addWorker('w2');
    let out = h.handle({ type: 'retire-workers', request: 7, workers: ['w2', 'nobody'] });
    expect(out.filter((i) => i.kind === 'retired')).toEqual([{ kind: 'retired', request: 7, workers: ['w2'] }]);
    out = h.handle({ type: 'retire-workers', request: 8, workers: ['nobody'] });
    expect(out.filter((i) => i.kind === 'retired')).toEqual([{ kind: 'retired', request: 8, workers: [] }]);
  });

  it('a retiring worker whose task was being stolen still retires (the task moves, the late steal answer is ignored)', () => {
    const h = new Harness({ stealing: true, workerSaturation: 100 });
    h.addWorker('busy');
    h.submit(Array.from({ length: 4 }, (_, i) => spec(`t${i}`)));
    h.addWorker('idle');
    h.handle({ type: 'tick', now: 1 });
    const stolen = [...h.state.tasks.values()].find((ts) => ts.stealingTo !== null)!.key;
    const out = h.handle({ type: 'retire-workers', request: 1, workers: ['busy'] });
    expect(out.filter((i) => i.kind === 'retired')).toEqual([{ kind: 'retired', request: 1, workers: ['busy'] }]);
    expect(h.state.counts.processing).toBe(4);
    expect(h.handle({ type: 'steal-response', worker: 'busy', key: stolen, stolen: false })).toEqual([]);
  });

  it('a retirement whose replication can no longer happen (the key was released meanwhile) still ends', () => {
    const h = new Harness();
    h.addWorker('w1');
    h.addWorker('w2');
    h.submit([spec('a', [], { workers: ['w1'] })], ['a']);
    h.finish('w1', 'a', 10);
    h.handle({ type: 'retire-workers', request: 1, workers: ['w1'] });
    // The client lets a go before w2 has fetched it: w1 holds nothing unique any more.
    const out = h.handle({ type: 'release-keys', client: 'c1', keys: ['a'] });
    expect(out.filter((i) => i.kind === 'retired')).toEqual([{ kind: 'retired', request: 1, workers: ['w1'] }]);
  });

  it('the worker that was to take the replicas dies: another is asked', () => {
    const h = new Harness();
    h.addWorker('w1');
    h.addWorker('w2');
    h.addWorker('w3');
    h.submit([spec('a', [], { workers: ['w1'] })], ['a']);
    h.finish('w1', 'a', 10);
    const out = h.handle({ type: 'retire-workers', request: 1, workers: ['w1'] });
    const [target] = workerOps(out, 'acquire-replicas').map((o) => o.worker);
    const after = h.handle({ type: 'worker-removed', worker: target!, reason: 'SIGKILL' });
    const other = target === 'w2' ? 'w3' : 'w2';
    expect(workerOps(after, 'acquire-replicas')).toEqual([{ worker: other, body: { keys: { a: ['w1'] } } }]);
  });
});

// ---- fuzz ----

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Workers as the scheduler sees them act: each keeps the tasks it was told to compute and the replicas
 * it was told to acquire, and (at random moments) finishes, fails, reports missing data, answers steals.
 * Events also come stale or duplicated, as they can on the wire.
 */
function fuzz(seed: number, steps: number, chains = false): void {
  const rand = prng(seed);
  const pick = <T>(items: readonly T[]): T | undefined => (items.length === 0 ? undefined : items[Math.floor(rand() * items.length)]);
  const h = new Harness({
    stealing: true,
    workerSaturation: 1 + Math.floor(rand() * 3),
    allowedFailures: 2,
    workerTimeoutMs: 50,
    ...(chains ? { chainAssignment: true, pipelineMs: 1 } : {}),
  });
  const clients = ['c1', 'c2', 'c3'];
  const assigned = new Map<string, Set<string>>(); // worker -> keys it was told to compute
  const steals = new Map<string, Set<string>>(); // worker -> keys it was asked to give up
  const acquiring = new Map<string, Map<string, string[]>>();
  const wanted = new Map<string, Set<string>>(); // client -> keys it holds futures of
  let now = 0;
  let nextWorker = 0;
  let nextKey = 0;
  let nextRetire = 0;
  const lastBeat = new Map<string, number>();

  const apply = (event: SchedulerEvent): void => {
    const out = h.handle(event);
    if (process.env.FUZZ_TRACE && JSON.stringify([event, out], (k, v) => (k === 'payload' ? undefined : v)).includes(process.env.FUZZ_TRACE))
      console.log(
        JSON.stringify(event, (k, v) => (k === 'payload' || k === 'metrics' ? undefined : v)),
        '->',
        JSON.stringify(out, (k, v) => (k === 'payload' ? undefined : v)),
      );
    for (const i of out) {
      if (i.kind === 'worker') {
        if (i.op === 'compute-task') {
          const key = (i.body as ComputeTask).key;
          assigned.get(i.worker)?.add(key);
        } else if (i.op === 'free-keys') {
          for (const key of (i.body as { keys: string[] }).keys) assigned.get(i.worker)?.delete(key);
        } else if (i.op === 'steal-request') {
          steals.get(i.worker)?.add((i.body as { key: string }).key);
        } else if (i.op === 'acquire-replicas') {
          const m = acquiring.get(i.worker);
          if (m) for (const [key, holders] of Object.entries((i.body as { keys: Record<string, string[]> }).keys)) m.set(key, holders);
        }
      } else if (i.kind === 'close-worker') {
        forgetWorker(i.worker);
      }
    }
  };
  const forgetWorker = (address: string): void => {
    assigned.delete(address);
    steals.delete(address);
    acquiring.delete(address);
    lastBeat.delete(address);
  };
  const live = (): string[] => [...h.state.workers.keys()];

  for (let step = 0; step < steps; step++) {
    const r = rand();
    now += 1 + Math.floor(rand() * 5);
    if (r < 0.06 || (h.state.workers.size === 0 && r < 0.3)) {
      const address = `w${nextWorker++}`;
      assigned.set(address, new Set());
      steals.set(address, new Set());
      acquiring.set(address, new Map());
      lastBeat.set(address, now);
      const resources: Record<string, number> = rand() < 0.3 ? { GPU: 1 + Math.floor(rand() * 2) } : {};
      apply({ type: 'worker-added', spec: workerSpec(address, 1 + Math.floor(rand() * 3), { resources }), now });
    } else if (r < 0.09) {
      const w = pick(live());
      if (w !== undefined) {
        apply({ type: 'worker-removed', worker: w, reason: 'fuzz' });
        forgetWorker(w);
      }
    } else if (r < 0.22) {
      // A graph: new tasks on new and known keys, some with restrictions, resources, retries, priorities.
      const client = pick(clients)!;
      const known = [...h.state.tasks.keys()];
      const tasks: TaskSpec[] = [];
      const n = 1 + Math.floor(rand() * 6);
      const fresh: string[] = [];
      for (let i = 0; i < n; i++) {
        const key = `k${nextKey++}`;
        const deps = new Set<string>();
        const nd = Math.floor(rand() * 3);
        for (let d = 0; d < nd; d++) {
          const from = rand() < 0.5 ? pick(fresh) : pick(known);
          if (from !== undefined) deps.add(from);
        }
        // Rarely: a missing key or a cycle.
        if (rand() < 0.02) deps.add(`missing-${key}`);
        const extra: Partial<TaskSpec> = {};
        if (rand() < 0.1) extra.retries = 1;
        if (rand() < 0.1) extra.priority = Math.floor(rand() * 3);
        if (rand() < 0.05) extra.resources = { GPU: 1 };
        if (rand() < 0.05) extra.workers = [`w${Math.floor(rand() * (nextWorker + 1))}`];
        tasks.push(spec(key, [...deps], extra));
        fresh.push(key);
      }
      if (rand() < 0.03 && tasks.length >= 2) tasks[0]!.deps.push(tasks[tasks.length - 1]!.key);
      const want = fresh.filter(() => rand() < 0.5);
      if (known.length > 0 && rand() < 0.2) want.push(pick(known)!);
      const mine = wanted.get(client) ?? new Set();
      wanted.set(client, mine);
      for (const key of want) mine.add(key);
      apply({ type: 'update-graph', client, tasks, wanted: want });
    } else if (r < 0.52) {
      // A worker finishes (or fails) one of its tasks; sometimes stale (a task it no longer has).
      const w = pick(live());
      if (w === undefined) continue;
      let mine = [...(assigned.get(w) ?? [])];
      // A worker starts a chain link only once the task before it is done there.
      if (chains) mine = mine.filter((k) => h.state.tasks.get(k)?.deps.every((d) => d.status === 'memory') ?? true);
      const key = rand() < 0.9 ? pick(mine) : pick([...h.state.tasks.keys()]);
      if (key === undefined) continue;
      assigned.get(w)?.delete(key);
      if (rand() < 0.1) apply({ type: 'task-erred', worker: w, key, error: { name: 'Error', message: 'fuzz' }, duration: 1 });
      else apply({ type: 'task-finished', worker: w, key, nbytes: Math.floor(rand() * 1000), typeName: 'number', duration: rand() * 10 });
    } else if (r < 0.57) {
      const client = pick(clients)!;
      const mine = wanted.get(client);
      const key = mine ? pick([...mine]) : undefined;
      if (key === undefined) continue;
      mine!.delete(key);
      apply({ type: 'release-keys', client, keys: [key] });
    } else if (r < 0.59) {
      const client = pick(clients)!;
      const key = pick([...h.state.tasks.keys()]);
      if (key === undefined) continue;
      apply({ type: 'cancel-keys', client, keys: [key] });
    } else if (r < 0.6) {
      const client = pick(clients)!;
      wanted.delete(client);
      apply({ type: 'client-gone', client });
    } else if (r < 0.64) {
      // A fetch from a holder fails: missing-data.
      const w = pick(live());
      const inMemory = [...h.state.tasks.values()].filter((ts) => ts.status === 'memory');
      const ts = pick(inMemory);
      if (w === undefined || ts === undefined) continue;
      const holder = rand() < 0.2 ? '' : (pick([...ts.whoHas].map((x) => x.address)) ?? '');
      apply({ type: 'missing-data', worker: w, key: ts.key, holder });
    } else if (r < 0.72) {
      apply({ type: 'tick', now });
    } else if (r < 0.8) {
      // Steal answers: true only for what this fake worker has not "started" (half, at random).
      const w = pick([...steals.keys()].filter((x) => (steals.get(x)?.size ?? 0) > 0));
      if (w === undefined) continue;
      const key = pick([...steals.get(w)!])!;
      steals.get(w)!.delete(key);
      const stolen = rand() < 0.5 && assigned.get(w)?.has(key) === true;
      if (stolen) assigned.get(w)!.delete(key);
      apply({ type: 'steal-response', worker: w, key, stolen });
    } else if (r < 0.85) {
      const w = pick([...acquiring.keys()].filter((x) => (acquiring.get(x)?.size ?? 0) > 0));
      if (w === undefined) continue;
      const [key] = acquiring.get(w)!.keys();
      acquiring.get(w)!.delete(key!);
      if (rand() < 0.8) apply({ type: 'added-keys', worker: w, keys: [[key!, 10]] });
      else apply({ type: 'missing-data', worker: w, key: key!, holder: pick(acquiring.get(w)!.get(key!) ?? []) ?? '' });
    } else if (r < 0.89) {
      const w = pick(live());
      if (w === undefined) continue;
      apply({ type: 'worker-status', worker: w, paused: rand() < 0.5 });
    } else if (r < 0.91) {
      const ws = [...new Set([pick(live()), pick(live())])].filter((x): x is string => x !== undefined);
      if (ws.length === 0) continue;
      apply({ type: 'retire-workers', request: ++nextRetire, workers: ws });
    } else if (r < 0.93) {
      const client = pick(clients)!;
      const w = pick(live());
      if (w === undefined) continue;
      const key = `s${nextKey++}`;
      wanted.get(client)?.add(key) ?? wanted.set(client, new Set([key]));
      apply({ type: 'scattered', client, worker: w, keys: [[key, 50]] });
    } else {
      // Heartbeats, so that timeouts take only the workers the fuzz leaves silent.
      for (const w of live())
        if (rand() < 0.9) {
          lastBeat.set(w, now);
          apply({ type: 'heartbeat', worker: w, now, metrics: METRICS });
        }
    }
  }

  // Quiescence: every worker unpauses and does all it was asked (steals refused, replicas fetched) until
  // nothing moves; then every wanted task has settled. Tasks restricted to workers that never come, or
  // needing resources none has, wait in no-worker: that is not a hang.
  const pause = h.state.config.workerTimeoutMs;
  if (h.state.workers.size === 0) {
    assigned.set('final', new Set());
    steals.set('final', new Set());
    acquiring.set('final', new Map());
    apply({ type: 'worker-added', spec: workerSpec('final', 2, { resources: { GPU: 2 } }), now });
  }
  for (const w of live()) apply({ type: 'worker-status', worker: w, paused: false });
  h.checking = false;
  for (let round = 0; round < 10_000; round++) {
    checkInvariants(h.state);
    let moved = false;
    for (const w of live()) {
      apply({ type: 'heartbeat', worker: w, now, metrics: METRICS });
      for (const key of [...(steals.get(w) ?? [])]) {
        steals.get(w)!.delete(key);
        apply({ type: 'steal-response', worker: w, key, stolen: false });
        moved = true;
      }
      for (const [key] of [...(acquiring.get(w) ?? [])]) {
        acquiring.get(w)!.delete(key);
        apply({ type: 'added-keys', worker: w, keys: [[key, 10]] });
        moved = true;
      }
      const key = [...(assigned.get(w) ?? [])][0];
      if (key !== undefined) {
        assigned.get(w)!.delete(key);
        apply({ type: 'task-finished', worker: w, key, nbytes: 10, typeName: 'number', duration: 1 });
        moved = true;
      }
    }
    now += 1;
    if (!moved) break;
    expect(round).toBeLessThan(9_999);
  }
  void pause;
  checkInvariants(h.state);
  // A task may wait only for what no worker can run (restricted to a worker that never came, or needing
  // more of a resource than any has); anything else that is not settled is a hang.
  const canRunSomewhere = (ts: Task): boolean =>
    [...h.state.workers.values()].some(
      (ws) =>
        ws.status === 'running' &&
        (ts.restrictions === null || ts.restrictions.has(ws.address)) &&
        Object.entries(ts.resources ?? {}).every(([res, n]) => (ws.resources[res] ?? 0) >= n),
    );
  const blocked = (ts: Task): boolean =>
    (ts.status === 'no-worker' && !canRunSomewhere(ts)) || (ts.status === 'waiting' && ts.deps.some((d) => d.status !== 'memory' && blocked(d)));
  for (const ts of h.state.tasks.values()) {
    if (ts.status === 'processing')
      throw new Error(`seed ${seed}: ${ts.key} is processing on ${ts.processingOn!.address}, which was never told to (or already did)`);
    if (ts.status === 'queued') throw new Error(`seed ${seed}: ${ts.key} is queued on an idle cluster`);
    if ((ts.status === 'waiting' || ts.status === 'no-worker') && !blocked(ts)) {
      throw new Error(
        `seed ${seed}: ${ts.key} is ${ts.status}, on ${
          ts.deps
            .filter((d) => d.status !== 'memory')
            .map((d) => `${d.key} (${d.status})`)
            .join(', ') || 'nothing'
        }`,
      );
    }
  }
  // Every client gone: nothing is left (no leak).
  h.checking = true;
  for (const c of clients) apply({ type: 'client-gone', client: c });
  for (const ts of h.state.tasks.values()) throw new Error(`seed ${seed}: ${ts.key} (${ts.status}) outlived every client`);
  for (const ws of h.state.workers.values()) {
    expect(ws.hasWhat.size, `seed ${seed}: ${ws.address} still holds data`).toBe(0);
    expect(ws.processing.size, `seed ${seed}: ${ws.address} still processes`).toBe(0);
  }
}

describe('SchedulerState: invariants under random event sequences', () => {
  for (const seed of Array.from({ length: Number(process.env.FUZZ_SEEDS ?? 24) }, (_, i) => i + 1)) {
    it(`seed ${seed}`, () => fuzz(seed, Number(process.env.FUZZ_STEPS ?? 2000)));
  }
});

describe('SchedulerState: invariants under random event sequences, with chains placed ahead and room for short tasks', () => {
  for (const seed of Array.from({ length: Number(process.env.FUZZ_SEEDS ?? 24) }, (_, i) => i + 1)) {
    it(`seed ${seed}`, () => fuzz(seed, Number(process.env.FUZZ_STEPS ?? 2000), true));
  }
});
