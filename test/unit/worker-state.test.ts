// WorkerState (src/scheduler/state/worker-state.ts) driven directly: the scheduler's orders, the ends of
// executions and fetches in, instructions out. The cases are the races that deadlocked Dask's worker
// (#6689, #6159, #6263, #5497): the scheduler changing its mind while an execution or a fetch is under
// way (cancelled, resumed), fetches that fail or come back without the key, steals at every state. A
// seeded fuzz checks the bookkeeping's invariants after every event, and that every task the scheduler
// asked for is answered once the simulated threads and peers have done their work.
import { describe, it, expect } from 'vitest';
import { WorkerState, type WorkerEvent, type WorkerInstruction, type WTask } from '../../src/scheduler/state/worker-state.js';
import type { ComputeTask } from '../../src/scheduler/protocol.js';

let order = 0;
function task(key: string, deps: Record<string, string[]> = {}, extra: Partial<ComputeTask> = {}): ComputeTask {
  return { key, payload: [Buffer.from(key)], deps, priority: [0, order++], ...extra };
}

class Harness {
  readonly state: WorkerState;
  checking = true;
  readonly #recent: string[] = [];

  constructor(nthreads = 1, resources: Record<string, number> = {}) {
    this.state = new WorkerState({ nthreads, resources, maxGathers: 4 });
  }

  handle(event: WorkerEvent): WorkerInstruction[] {
    const out = this.state.handle(event);
    this.#recent.push(
      `${JSON.stringify(event, (k, v) => (k === 'payload' ? undefined : v))}\n    -> ${JSON.stringify(out, (k, v) => (k === 'payload' ? undefined : v))}`,
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

  compute(t: ComputeTask): WorkerInstruction[] {
    return this.handle({ type: 'compute-task', task: t });
  }
  free(...keys: string[]): WorkerInstruction[] {
    return this.handle({ type: 'free-keys', keys });
  }
  done(key: string, nbytes = 8): WorkerInstruction[] {
    return this.handle({ type: 'execute-success', key, nbytes, typeName: 'number', duration: 1 });
  }
  failed(key: string): WorkerInstruction[] {
    return this.handle({ type: 'execute-failure', key, error: { name: 'Error', message: 'boom' }, duration: 1 });
  }
  gathered(worker: string, received: Record<string, number>, missing: string[] = [], failed = false): WorkerInstruction[] {
    return this.handle({ type: 'gather-done', worker, received, missing, failed });
  }
  status(key: string): string {
    return this.state.tasks.get(key)?.status ?? 'forgotten';
  }
}

const executes = (out: WorkerInstruction[]): string[] => out.flatMap((i) => (i.op === 'execute' ? [i.key] : []));
const gathers = (out: WorkerInstruction[]): [string, string[]][] => out.flatMap((i) => (i.op === 'gather' ? [[i.worker, i.keys] as [string, string[]]] : []));
const releases = (out: WorkerInstruction[]): string[] => out.flatMap((i) => (i.op === 'release' ? [i.key] : []));
const told = (out: WorkerInstruction[], message?: string): { message: string; body: Record<string, unknown> }[] =>
  out.flatMap((i) =>
    i.op === 'scheduler' && (message === undefined || i.message === message) ? [{ message: i.message, body: i.body as Record<string, unknown> }] : [],
  );
const finished = (out: WorkerInstruction[]): string[] => told(out, 'task-finished').map((m) => m.body.key as string);

function check(ok: boolean, message: string): void {
  if (!ok) throw new Error(`invariant broken: ${message}`);
}

function checkInvariants(state: WorkerState): void {
  let inFlight = 0;
  for (const [key, ts] of state.tasks) {
    const where = `task ${key} (${ts.status})`;
    check((ts.key === key && ts.status !== 'released') || ts.dependents.size > 0 || ts.compute || ts.replica, `${where}: released, kept for nothing`);
    check((ts.status === 'ready') === (state.ready.has(ts) || state.constrained.has(ts)), `${where}: in the ready queues or not`);
    check(!(state.ready.has(ts) && state.constrained.has(ts)), `${where}: in both ready queues`);
    check((ts.status === 'fetch') === state.fetching.has(ts), `${where}: in the fetch queue or not`);
    const executing = ts.status === 'executing' || ((ts.status === 'cancelled' || ts.status === 'resumed') && ts.previous === 'executing');
    check(executing === state.executing.has(ts), `${where}: executing or not (previous ${ts.previous})`);
    const flight = ts.status === 'flight' || ((ts.status === 'cancelled' || ts.status === 'resumed') && ts.previous === 'flight');
    check(flight === (ts.flightFrom !== null), `${where}: in flight or not (from ${ts.flightFrom}, previous ${ts.previous})`);
    if (flight) {
      check(state.inFlightFrom.has(ts.flightFrom!), `${where}: in flight from ${ts.flightFrom}, which has no fetch under way`);
      inFlight++;
    }
    if (ts.status === 'cancelled' || ts.status === 'resumed') check(ts.previous !== null, `${where}: no previous`);
    if (ts.status === 'cancelled') check(!ts.compute, `${where}: cancelled yet to be computed`);
    if (ts.status === 'waiting') {
      check(ts.compute, `${where}: waiting, not a compute task`);
      check(ts.waitingFor.size > 0, `${where}: waiting for nothing`);
      for (const dep of ts.waitingFor) {
        check(state.tasks.get(dep.key) === dep, `${where}: waits for ${dep.key}, forgotten`);
        check(dep.status !== 'memory', `${where}: waits for ${dep.key}, in memory`);
      }
    }
    if (ts.status === 'ready' || ts.status === 'executing') {
      check(ts.compute, `${where}: not a compute task`);
      for (const dep of ts.deps) check(dep.status === 'memory', `${where}: its dependency ${dep.key} is ${dep.status}`);
    }
    for (const dep of ts.deps) check(state.tasks.get(dep.key) === dep && dep.dependents.has(ts), `${where}: dependency ${dep.key} forgotten or unlinked`);
    for (const d of ts.dependents) check(state.tasks.get(d.key) === d && d.deps.has(ts), `${where}: dependent ${d.key} forgotten or unlinked`);
    if (ts.status === 'error')
      check(
        ts.dependents.size > 0 && !ts.compute,
        `${where}: an erred task kept for nothing (dependents ${[...ts.dependents].map((d) => d.key)}, compute ${ts.compute}, replica ${ts.replica})`,
      );
  }
  check(state.executing.size <= state.config.nthreads, `${state.executing.size} executing on ${state.config.nthreads} threads`);
  for (const ts of state.executing) check(state.tasks.get(ts.key) === ts, `executing ${ts.key}, forgotten`);
  for (const [r, n] of Object.entries(state.usedResources)) {
    let used = 0;
    for (const ts of state.executing) used += ts.resources?.[r] ?? 0;
    check(used === n, `uses ${n} ${r}, its executing tasks ${used}`);
    check(n <= (state.config.resources[r] ?? 0), `uses ${n} ${r} of ${state.config.resources[r] ?? 0}`);
  }
  void inFlight;
}

describe('WorkerState: computing', () => {
  it('runs a task with no dependencies at once, and reports it', () => {
    const h = new Harness();
    expect(executes(h.compute(task('a')))).toEqual(['a']);
    const out = h.done('a', 42);
    expect(told(out)).toEqual([{ message: 'task-finished', body: { key: 'a', nbytes: 42, type: 'number', duration: 1 } }]);
    expect(h.status('a')).toBe('memory');
  });

  it('runs at most nthreads at once, most urgent first', () => {
    const h = new Harness(2);
    const out = h.handle({ type: 'compute-task', task: task('low', {}, { priority: [0, 100] }) });
    expect(executes(out)).toEqual(['low']);
    h.compute(task('b1', {}, { priority: [0, 50] }));
    expect(h.state.executing.size).toBe(2);
    h.compute(task('urgent', {}, { priority: [-5, 200] }));
    h.compute(task('later', {}, { priority: [0, 300] }));
    expect(executes(h.done('low'))).toEqual(['urgent']);
    expect(executes(h.done('b1'))).toEqual(['later']);
  });

  it('fetches dependencies it lacks, batched per peer, and runs the task once all are here', () => {
    const h = new Harness();
    let out = h.compute(task('t', { a: ['p1'], b: ['p1'], c: ['p2'], here: [] }));
    // 'here' was to be on this worker and is not: it says so.
    expect(told(out, 'missing-data')).toEqual([{ message: 'missing-data', body: { key: 'here', holder: '' } }]);
    expect(gathers(out).sort()).toEqual([
      ['p1', ['a', 'b']],
      ['p2', ['c']],
    ]);
    expect(h.status('t')).toBe('waiting');
    out = h.gathered('p1', { a: 10, b: 20 });
    expect(told(out, 'added-keys').map((m) => m.body.keys)).toEqual([[['a', 10]], [['b', 20]]]);
    expect(executes(out)).toEqual([]);
    h.gathered('p2', { c: 5 });
    // The scheduler answers the missing-data by placing t again, with where 'here' really is.
    h.free('t');
    out = h.compute(task('t', { a: [], b: [], c: [], here: ['p3'] }));
    expect(gathers(out)).toEqual([['p3', ['here']]]);
    out = h.gathered('p3', { here: 1 });
    expect(executes(out)).toEqual(['t']);
  });

  it('holds fetched dependencies (reported to the scheduler) until the scheduler frees them, not just until its task ends', () => {
    const h = new Harness();
    h.compute(task('t', { a: ['p1'] }));
    h.gathered('p1', { a: 10 });
    h.done('t');
    // The scheduler lets t go: a stays, for the scheduler lists this worker among its holders.
    let out = h.free('t');
    expect(releases(out)).toEqual(['t']);
    expect(h.status('a')).toBe('memory');
    out = h.free('a');
    expect(releases(out)).toEqual(['a']);
    expect(h.state.tasks.size).toBe(0);
  });

  it('a result freed while tasks here still wait for it stays until they have run', () => {
    const h = new Harness();
    h.compute(task('a'));
    h.done('a');
    h.compute(task('blocker'));
    h.compute(task('t', { a: [] }));
    expect(h.status('t')).toBe('ready');
    let out = h.free('a');
    expect(releases(out)).toEqual([]);
    expect(h.status('a')).toBe('memory');
    out = h.done('blocker');
    expect(executes(out)).toEqual(['t']);
    h.done('t');
    out = h.free('t');
    expect(releases(out).sort()).toEqual(['a', 't']);
  });

  it('resources: a task waits until its resources are free, others run meanwhile', () => {
    const h = new Harness(3, { GPU: 1 });
    expect(executes(h.compute(task('g1', {}, { resources: { GPU: 1 } })))).toEqual(['g1']);
    expect(executes(h.compute(task('g2', {}, { resources: { GPU: 1 } })))).toEqual([]);
    expect(executes(h.compute(task('cpu')))).toEqual(['cpu']);
    expect(h.state.usedResources).toEqual({ GPU: 1 });
    expect(executes(h.done('g1'))).toEqual(['g2']);
  });

  it('a failed task is reported and forgotten; asked again (a retry), it runs afresh', () => {
    const h = new Harness();
    h.compute(task('a', { d: ['p1'] }));
    h.gathered('p1', { d: 1 });
    const out = h.failed('a');
    expect(told(out, 'task-erred')).toMatchObject([{ body: { key: 'a', error: { message: 'boom' } } }]);
    expect(h.status('a')).toBe('forgotten');
    // Its fetched input is the scheduler's to free.
    expect(h.status('d')).toBe('memory');
    expect(executes(h.compute(task('a', { d: [] })))).toEqual(['a']);
  });

  it('paused: nothing starts and nothing is fetched; unpaused, both resume', () => {
    const h = new Harness();
    h.handle({ type: 'pause', paused: true });
    expect(executes(h.compute(task('a')))).toEqual([]);
    expect(gathers(h.compute(task('b', { x: ['p1'] })))).toEqual([]);
    const out = h.handle({ type: 'pause', paused: false });
    expect(executes(out)).toEqual(['a']);
    expect(gathers(out)).toEqual([['p1', ['x']]]);
  });

  it('compute-task for a key already here answers at once', () => {
    const h = new Harness();
    h.compute(task('t', { a: ['p1'] }));
    h.gathered('p1', { a: 7 });
    const out = h.compute(task('a'));
    expect(told(out, 'task-finished')).toMatchObject([{ body: { key: 'a', nbytes: 7 } }]);
    expect(executes(out)).toEqual([]);
  });
});

describe('WorkerState: the scheduler changes its mind (cancelled / resumed)', () => {
  it('free-keys while executing: the result is dropped when it ends, and nothing is reported', () => {
    const h = new Harness();
    h.compute(task('a'));
    h.free('a');
    expect(h.status('a')).toBe('cancelled');
    // The thread stays busy until the execution ends.
    expect(executes(h.compute(task('b')))).toEqual([]);
    const out = h.done('a');
    expect(releases(out)).toEqual(['a']);
    expect(told(out)).toEqual([]);
    expect(executes(out)).toEqual(['b']);
    expect(h.status('a')).toBe('forgotten');
  });

  it('free-keys while executing, then a failure: nothing is reported', () => {
    const h = new Harness();
    h.compute(task('a'));
    h.free('a');
    expect(told(h.failed('a'))).toEqual([]);
    expect(h.status('a')).toBe('forgotten');
  });

  it('free-keys, then compute-task again before it ends: resumed, its result counts', () => {
    const h = new Harness();
    h.compute(task('a'));
    h.free('a');
    let out = h.compute(task('a'));
    expect(h.status('a')).toBe('resumed');
    expect(executes(out)).toEqual([]); // not run twice
    out = h.done('a');
    expect(finished(out)).toEqual(['a']);
    expect(releases(out)).toEqual([]);
    expect(h.status('a')).toBe('memory');
  });

  it('free, compute, free again: cancelled after all', () => {
    const h = new Harness();
    h.compute(task('a'));
    h.free('a');
    h.compute(task('a'));
    h.free('a');
    const out = h.done('a');
    expect(releases(out)).toEqual(['a']);
    expect(told(out)).toEqual([]);
  });

  it('a dependency in flight whose task is freed: the fetch is let go of, the data dropped when it comes', () => {
    const h = new Harness();
    h.compute(task('t', { a: ['p1'] }));
    h.free('t');
    expect(h.status('a')).toBe('cancelled');
    const out = h.gathered('p1', { a: 10 });
    expect(releases(out)).toEqual(['a']);
    expect(told(out)).toEqual([]);
    expect(h.state.tasks.size).toBe(0);
  });

  it('a dependency in flight, let go of, then needed again: the fetch counts after all', () => {
    const h = new Harness();
    h.compute(task('t', { a: ['p1'] }));
    h.free('t');
    let out = h.compute(task('t2', { a: ['p1'] }));
    // No second fetch: the first is still under way.
    expect(gathers(out)).toEqual([]);
    expect(h.status('a')).toBe('resumed');
    out = h.gathered('p1', { a: 10 });
    expect(told(out, 'added-keys')).toHaveLength(1);
    expect(executes(out)).toEqual(['t2']);
  });

  it('compute-task for a key being fetched: the fetch is as good as computing it', () => {
    const h = new Harness();
    h.compute(task('t', { a: ['p1'] }));
    h.compute(task('a'));
    expect(h.status('a')).toBe('resumed');
    const out = h.gathered('p1', { a: 10 });
    expect(finished(out)).toEqual(['a']);
    expect(executes(out)).toEqual(['t']);
  });

  it('compute-task for a key being fetched, and the fetch fails with no other holder: it is computed here, with its own dependencies', () => {
    const h = new Harness();
    h.compute(task('t', { a: ['p1'] }));
    h.compute(task('a', { x: ['p2'] }));
    let out = h.gathered('p1', {}, ['a']);
    // Asked to compute it: no missing-data, a fetch of a's own input.
    expect(told(out, 'missing-data')).toEqual([]);
    expect(gathers(out)).toEqual([['p2', ['x']]]);
    expect(h.status('a')).toBe('waiting');
    out = h.gathered('p2', { x: 1 });
    expect(executes(out)).toEqual(['a']);
    expect(finished(h.done('a'))).toEqual(['a']);
  });

  it('compute-task for a key being fetched, the fetch fails, another holder has it: fetched from there, reported as finished', () => {
    const h = new Harness();
    const [[first]] = gathers(h.compute(task('t', { a: ['p1', 'p2'] })));
    h.compute(task('a'));
    let out = h.gathered(first!, {}, [], true);
    const [[second]] = gathers(out);
    expect(second).not.toBe(first);
    out = h.gathered(second!, { a: 3 });
    expect(finished(out)).toEqual(['a']);
    expect(told(out, 'added-keys')).toEqual([]);
  });

  it('a dependency resumed from a cancelled execution: it ends, and the tasks waiting here run', () => {
    const h = new Harness(2);
    h.compute(task('a'));
    h.free('a');
    h.compute(task('t', { a: ['p9'] }));
    expect(h.status('a')).toBe('resumed');
    const out = h.done('a');
    expect(executes(out)).toEqual(['t']);
    // Reported (the scheduler may count this worker as a holder), and held for it.
    expect(finished(out)).toEqual(['a']);
    h.done('t');
    h.free('t');
    expect(h.status('a')).toBe('memory');
  });

  it('a dependency resumed from a cancelled execution that fails: it is fetched from its holders instead', () => {
    const h = new Harness(2);
    h.compute(task('a'));
    h.free('a');
    h.compute(task('t', { a: ['p9'] }));
    const out = h.failed('a');
    expect(told(out, 'task-erred')).toEqual([]);
    expect(gathers(out)).toEqual([['p9', ['a']]]);
    expect(executes(h.gathered('p9', { a: 1 }))).toEqual(['t']);
  });

  it("a dependency resumed from a cancelled execution, then asked for by the scheduler: its end is reported as the task's", () => {
    const h = new Harness(2);
    h.compute(task('a'));
    h.free('a');
    h.compute(task('t', { a: ['p9'] }));
    h.compute(task('a'));
    const out = h.failed('a');
    expect(told(out, 'task-erred').map((m) => m.body.key)).toEqual(['a']);
  });
});

describe('WorkerState: fetch failures', () => {
  it('a peer that cannot be reached: the next holder is tried; with none left, the scheduler hears which holder failed', () => {
    const h = new Harness();
    const out0 = h.compute(task('t', { a: ['p1', 'p2'] }));
    const [[first]] = gathers(out0);
    let out = h.gathered(first!, {}, [], true);
    const [[second]] = gathers(out);
    expect(second).toBe(first === 'p1' ? 'p2' : 'p1');
    expect(told(out)).toEqual([]);
    out = h.gathered(second!, {}, [], true);
    expect(told(out)).toEqual([{ message: 'missing-data', body: { key: 'a', holder: second } }]);
    expect(h.status('a')).toBe('missing');
    expect(h.status('t')).toBe('waiting');
    // The scheduler places t again with a new holder.
    h.free('t');
    out = h.compute(task('t', { a: ['p3'] }));
    expect(gathers(out)).toEqual([['p3', ['a']]]);
  });

  it('a reply without the key (the peer does not have it): the same', () => {
    const h = new Harness();
    h.compute(task('t', { a: ['p1'], b: ['p1'] }));
    const out = h.gathered('p1', { b: 2 }, ['a']);
    expect(told(out, 'missing-data')).toEqual([{ message: 'missing-data', body: { key: 'a', holder: 'p1' } }]);
    expect(told(out, 'added-keys')).toHaveLength(1);
    expect(h.status('b')).toBe('memory');
  });

  it('one fetch at a time from each peer; the next goes once the first is back', () => {
    const h = new Harness();
    let out = h.compute(task('t1', { a: ['p1'] }));
    expect(gathers(out)).toEqual([['p1', ['a']]]);
    out = h.compute(task('t2', { b: ['p1'] }));
    expect(gathers(out)).toEqual([]);
    out = h.gathered('p1', { a: 1 });
    expect(gathers(out)).toEqual([['p1', ['b']]]);
  });

  it('a fetch that fails while its task was let go of: forgotten, nothing said', () => {
    const h = new Harness();
    h.compute(task('t', { a: ['p1'] }));
    h.free('t');
    const out = h.gathered('p1', {}, [], true);
    expect(told(out)).toEqual([]);
    expect(h.state.tasks.size).toBe(0);
  });
});

describe('WorkerState: a peer removed by the scheduler (dead or frozen)', () => {
  const drops = (out: WorkerInstruction[]): string[] => out.flatMap((i) => (i.op === 'drop-peer' ? [i.worker] : []));

  it('its connection is dropped, so a fetch from it under way fails; a task asked for meanwhile is then computed here', () => {
    const h = new Harness();
    h.compute(task('t', { a: ['frozen'] }));
    // The scheduler gave up on 'frozen': t is stopped, a is to be computed here.
    expect(drops(h.handle({ type: 'peer-removed', worker: 'frozen' }))).toEqual(['frozen']);
    h.free('t');
    h.compute(task('a', { x: [] }));
    expect(h.status('a')).toBe('resumed');
    // The aborted fetch fails: a is computed, with its own dependencies (x is said to be here: it is not).
    const out = h.gathered('frozen', {}, [], true);
    expect(told(out, 'missing-data')).toEqual([{ message: 'missing-data', body: { key: 'x', holder: '' } }]);
    expect(h.status('a')).toBe('waiting');
  });

  it('a fetch under way from it fails over to the holders the scheduler names next', () => {
    const h = new Harness();
    h.compute(task('t', { a: ['frozen'] }));
    h.handle({ type: 'peer-removed', worker: 'frozen' });
    h.free('t');
    h.compute(task('t', { a: ['p2'] }));
    const out = h.gathered('frozen', {}, [], true);
    expect(told(out, 'missing-data')).toEqual([]);
    expect(gathers(out)).toEqual([['p2', ['a']]]);
    expect(executes(h.gathered('p2', { a: 1 }))).toEqual(['t']);
  });

  it('a queued fetch that had only it says missing-data; others are untouched', () => {
    const h = new Harness();
    h.compute(task('t1', { busy: ['p1'] }));
    // p1 is busy serving one fetch: 'only' waits in the queue; 'both' goes to p3.
    h.compute(task('t2', { only: ['p1'], both: ['p1', 'p3'] }));
    expect(h.status('only')).toBe('fetch');
    expect(h.state.tasks.get('both')!.flightFrom).toBe('p3');
    const out = h.handle({ type: 'peer-removed', worker: 'p1' });
    expect(told(out, 'missing-data')).toEqual([{ message: 'missing-data', body: { key: 'only', holder: 'p1' } }]);
    expect(h.status('only')).toBe('missing');
    expect(h.state.tasks.get('both')!.flightFrom).toBe('p3');
    expect([...h.state.tasks.get('both')!.whoHas]).toEqual(['p3']);
  });
});

describe('WorkerState: steal requests', () => {
  const stolen = (out: WorkerInstruction[]): unknown => told(out, 'steal-response')[0]?.body;

  it('a waiting or ready task is given up (its fetches too); anything started or unknown is not', () => {
    const h = new Harness(1);
    h.compute(task('running'));
    h.compute(task('ready'));
    h.compute(task('waiting', { a: ['p1'] }));
    expect(stolen(h.handle({ type: 'steal-request', key: 'ready' }))).toEqual({ key: 'ready', stolen: true });
    expect(h.status('ready')).toBe('forgotten');
    expect(stolen(h.handle({ type: 'steal-request', key: 'waiting' }))).toEqual({ key: 'waiting', stolen: true });
    // Its dependency's fetch is let go of.
    expect(h.status('a')).toBe('cancelled');
    expect(stolen(h.handle({ type: 'steal-request', key: 'running' }))).toEqual({ key: 'running', stolen: false });
    expect(stolen(h.handle({ type: 'steal-request', key: 'nobody' }))).toEqual({ key: 'nobody', stolen: false });
    h.done('running');
    expect(stolen(h.handle({ type: 'steal-request', key: 'running' }))).toEqual({ key: 'running', stolen: false });
  });

  it('cancelled and resumed tasks are not given up (their work is under way)', () => {
    const h = new Harness(1);
    h.compute(task('a'));
    h.free('a');
    expect(told(h.handle({ type: 'steal-request', key: 'a' }), 'steal-response')[0]!.body).toEqual({ key: 'a', stolen: false });
    h.compute(task('a'));
    expect(told(h.handle({ type: 'steal-request', key: 'a' }), 'steal-response')[0]!.body).toEqual({ key: 'a', stolen: false });
    expect(finished(h.done('a'))).toEqual(['a']);
  });

  it('a fetched dependency stays after its task is stolen (the scheduler counts it)', () => {
    const h = new Harness(1);
    h.compute(task('blocker'));
    h.compute(task('t', { a: ['p1'] }));
    h.gathered('p1', { a: 1 });
    h.handle({ type: 'steal-request', key: 't' });
    expect(h.status('a')).toBe('memory');
  });
});

describe('WorkerState: replicas and put-data', () => {
  it('acquire-replicas fetches and reports; a key already here is reported at once', () => {
    const h = new Harness();
    h.compute(task('a'));
    h.done('a');
    let out = h.handle({ type: 'acquire-replicas', keys: { a: ['p1'], b: ['p1'] } });
    expect(told(out, 'added-keys').map((m) => m.body.keys)).toEqual([[['a', 8]]]);
    expect(gathers(out)).toEqual([['p1', ['b']]]);
    out = h.gathered('p1', { b: 4 });
    expect(told(out, 'added-keys').map((m) => m.body.keys)).toEqual([[['b', 4]]]);
    h.free('b');
    expect(h.status('b')).toBe('forgotten');
  });

  it('acquire-replicas for a key whose fetch was let go of: the fetch counts again, and is reported', () => {
    const h = new Harness();
    h.compute(task('t', { a: ['p1'] }));
    h.free('t');
    h.handle({ type: 'acquire-replicas', keys: { a: ['p1'] } });
    const out = h.gathered('p1', { a: 4 });
    expect(told(out, 'added-keys').map((m) => m.body.keys)).toEqual([[['a', 4]]]);
    expect(releases(out)).toEqual([]);
  });

  it('acquire-replicas that finds no holder: said once, and nothing kept', () => {
    const h = new Harness();
    h.handle({ type: 'acquire-replicas', keys: { a: ['p1'] } });
    const out = h.gathered('p1', {}, ['a']);
    expect(told(out)).toEqual([{ message: 'missing-data', body: { key: 'a', holder: 'p1' } }]);
    expect(h.state.tasks.size).toBe(0);
  });

  it('put-data: in memory, not reported (the client tells the scheduler), held until freed, and satisfies a waiting task', () => {
    const h = new Harness();
    h.compute(task('t', { s: ['p1'] }));
    let out = h.handle({ type: 'put-data', key: 's', nbytes: 9 });
    expect(told(out)).toEqual([]);
    expect(executes(out)).toEqual(['t']);
    // The fetch under way from p1 comes back too: nothing changes.
    h.gathered('p1', { s: 9 });
    h.done('t');
    h.free('t');
    expect(h.status('s')).toBe('memory');
    out = h.handle({ type: 'put-data', key: 'lonely', nbytes: 1 });
    expect(told(out)).toEqual([]);
    expect(h.status('lonely')).toBe('memory');
    expect(releases(h.free('lonely'))).toEqual(['lonely']);
  });
});

// ---- fuzz ----

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

/**
 * A scheduler that changes its mind at random (compute, free, compute again, steal, acquire, put), threads
 * that end executions and peers that answer fetches (or fail) at random moments. At the end every thread
 * and peer finishes: every task the scheduler still wants must have been answered (task-finished or
 * task-erred), and nothing must be executing, in flight or queued.
 */
function fuzz(seed: number, steps: number): void {
  const rand = prng(seed);
  const pick = <T>(items: readonly T[]): T | undefined => (items.length === 0 ? undefined : items[Math.floor(rand() * items.length)]);
  const h = new Harness(1 + Math.floor(rand() * 3), { GPU: 1 });
  const peers = ['p1', 'p2', 'p3'];
  const keys = Array.from({ length: 25 }, (_, i) => `k${i}`);
  /** Keys the scheduler asked this worker to compute and has not freed since, and whether they were answered. */
  const wanted = new Map<string, boolean>();
  const executingNow = new Set<string>();
  const fetchesNow = new Map<string, string[]>();
  const apply = (event: WorkerEvent): void => {
    const out = h.handle(event);
    if (process.env.FUZZ_TRACE && JSON.stringify([event, out], (k, v) => (k === 'payload' ? undefined : v)).includes(process.env.FUZZ_TRACE))
      console.log(
        JSON.stringify(event, (k, v) => (k === 'payload' ? undefined : v)),
        '->',
        JSON.stringify(out, (k, v) => (k === 'payload' ? undefined : v)),
      );
    for (const i of out) {
      if (i.op === 'execute') {
        check(!executingNow.has(i.key), `${i.key} executed twice at once`);
        executingNow.add(i.key);
      } else if (i.op === 'gather') {
        check(!fetchesNow.has(i.worker), `two fetches from ${i.worker} at once`);
        fetchesNow.set(i.worker, i.keys);
      } else if (i.op === 'scheduler' && (i.message === 'task-finished' || i.message === 'task-erred')) {
        const key = (i.body as { key: string }).key;
        if (wanted.has(key)) wanted.set(key, true);
      } else if (i.op === 'scheduler' && i.message === 'steal-response') {
        const body = i.body as { key: string; stolen: boolean };
        if (body.stolen) wanted.delete(body.key);
      }
    }
  };
  const computeTask = (key: string): ComputeTask => {
    // Dependencies: keys "before" it, so there is no cycle; held here ([]) or on peers.
    const index = keys.indexOf(key);
    const deps: Record<string, string[]> = {};
    for (let d = 0; d < 2; d++) {
      if (index === 0 || rand() < 0.4) continue;
      const dep = keys[Math.floor(rand() * index)]!;
      // Here ([]) only as the scheduler would say it: the worker reported it (or it is not here at all,
      // the worker's missing-data case).
      const here = h.state.tasks.get(dep);
      deps[dep] = rand() < 0.15 && (here === undefined || here.status === 'memory') ? [] : peers.filter(() => rand() < 0.6);
      if (deps[dep]!.length === 0 && rand() < 0.5) deps[dep] = ['p1'];
    }
    return task(key, deps, rand() < 0.1 ? { resources: { GPU: 1 } } : {});
  };
  const endExecution = (key: string): void => {
    executingNow.delete(key);
    if (rand() < 0.15) apply({ type: 'execute-failure', key, error: { name: 'Error', message: 'fuzz' }, duration: 1 });
    else apply({ type: 'execute-success', key, nbytes: 1 + Math.floor(rand() * 100), typeName: 'number', duration: 1 });
  };
  const endFetch = (peer: string, reliable: boolean): void => {
    const asked = fetchesNow.get(peer)!;
    fetchesNow.delete(peer);
    if (!reliable && rand() < 0.1) {
      apply({ type: 'gather-done', worker: peer, received: {}, missing: [], failed: true });
      return;
    }
    const received: Record<string, number> = {};
    const missing: string[] = [];
    for (const key of asked) {
      if (reliable || rand() < 0.85) received[key] = 10;
      else missing.push(key);
    }
    apply({ type: 'gather-done', worker: peer, received, missing, failed: false });
  };

  for (let step = 0; step < steps; step++) {
    const r = rand();
    if (r < 0.25) {
      const key = pick(keys)!;
      wanted.set(key, false);
      apply({ type: 'compute-task', task: computeTask(key) });
    } else if (r < 0.37) {
      // As the scheduler does: a key is freed only with (after) the tasks here that need it.
      const key = pick(keys)!;
      const doomed: string[] = [];
      const visit = (k: string): void => {
        const ts = h.state.tasks.get(k);
        if (ts === undefined || doomed.includes(k)) return;
        for (const d of ts.dependents) visit(d.key);
        doomed.push(k);
      };
      visit(key);
      if (doomed.length === 0) doomed.push(key);
      for (const k of doomed) wanted.delete(k);
      apply({ type: 'free-keys', keys: doomed });
    } else if (r < 0.57) {
      const key = pick([...executingNow]);
      if (key !== undefined) endExecution(key);
    } else if (r < 0.75) {
      const peer = pick([...fetchesNow.keys()]);
      if (peer !== undefined) endFetch(peer, false);
    } else if (r < 0.8) {
      apply({ type: 'steal-request', key: pick(keys)! });
    } else if (r < 0.84) {
      apply({ type: 'acquire-replicas', keys: { [pick(keys)!]: peers.filter(() => rand() < 0.5) } });
    } else if (r < 0.86) {
      apply({ type: 'put-data', key: `s${Math.floor(rand() * 3)}`, nbytes: 5 });
    } else if (r < 0.88) {
      apply({ type: 'pause', paused: rand() < 0.4 });
    } else if (r < 0.9) {
      // The scheduler removed a peer: the fetch under way from it, if any, fails (its connection is dropped).
      const peer = pick(peers)!;
      apply({ type: 'peer-removed', worker: peer });
      if (fetchesNow.has(peer)) {
        fetchesNow.delete(peer);
        apply({ type: 'gather-done', worker: peer, received: {}, missing: [], failed: true });
      }
    } else {
      // The scheduler re-sends a compute-task it sent before (asked twice).
      const key = pick([...wanted.keys()]);
      if (key !== undefined) apply({ type: 'compute-task', task: computeTask(key) });
    }
  }
  // Everything ends: threads finish, peers answer (in full), the worker is not paused. A task still
  // waiting then waits for a dependency nobody has (missing-data told) or that failed here (task-erred
  // told): the scheduler's to resolve, by placing the task again or erring it. Anything else unanswered
  // is a hang.
  apply({ type: 'pause', paused: false });
  h.checking = false;
  for (let round = 0; round < 10_000 && (executingNow.size > 0 || fetchesNow.size > 0); round++) {
    checkInvariants(h.state);
    for (const key of [...executingNow]) {
      executingNow.delete(key);
      apply({ type: 'execute-success', key, nbytes: 1, typeName: 'number', duration: 1 });
    }
    for (const peer of [...fetchesNow.keys()]) endFetch(peer, true);
  }
  h.checking = true;
  checkInvariants(h.state);
  expect(h.state.executing.size).toBe(0);
  expect(h.state.inFlightFrom.size).toBe(0);
  expect(h.state.ready.size + h.state.constrained.size, `seed ${seed}: ready tasks on idle threads`).toBe(0);
  expect(h.state.fetching.size, `seed ${seed}: fetches queued with no fetch under way`).toBe(0);
  // (or one that failed here: the scheduler errs the tasks that wait for it, and frees them)
  const missingDeps = (ts: WTask): boolean =>
    [...ts.waitingFor].some((d) => d.status === 'missing' || d.status === 'error' || (d.status === 'waiting' && missingDeps(d)));
  for (const [key, answered] of wanted) {
    const ts = h.state.tasks.get(key);
    if (answered) continue;
    if (ts !== undefined && ts.status === 'waiting' && missingDeps(ts)) continue;
    const describe = (t: WTask): string =>
      `${t.key} ${t.status}${t.previous ? `/${t.previous}` : ''} compute=${t.compute} replica=${t.replica} whoHas=${[...t.whoHas]} flightFrom=${t.flightFrom}`;
    throw new Error(
      `seed ${seed}: ${key} (${ts?.status ?? 'forgotten'}) was asked for and never answered; waits for ${ts ? [...ts.waitingFor].map(describe).join('; ') : ''}`,
    );
  }
  // Freed everything: nothing is left.
  apply({ type: 'free-keys', keys: [...h.state.tasks.keys()] });
  expect([...h.state.tasks.keys()], `seed ${seed}: kept after every key was freed`).toEqual([]);
}

describe('WorkerState: invariants under random event sequences', () => {
  for (const seed of Array.from({ length: Number(process.env.FUZZ_SEEDS ?? 24) }, (_, i) => i + 1)) {
    it(`seed ${seed}`, () => fuzz(seed, Number(process.env.FUZZ_STEPS ?? 2000)));
  }
});
