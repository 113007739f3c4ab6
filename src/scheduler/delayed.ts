// delayed(fn)(...args): a lazy task graph built by calling functions (Dask's delayed). Nothing
// runs until compute(); Delayed values among the arguments (nested too) become dependencies, and
// their graphs merge.
import { createHash } from 'node:crypto';
import { encodeFrames } from '../util/object-codec.js';
import { toCode, codeName } from './code.js';
import { ref, type Graph } from './graph.js';
import type { Client } from './client.js';
import { computeGraph, type Scheduler } from './local/compute.js';

/** A lazy call made by delayed(fn)(...args): its key and graph; compute() runs it, or pass it to other delayed calls. */
export class Delayed<T = unknown> {
  /** The key of this call's task in the graph (prefix and content hash by default). */
  readonly key: string;
  /** This task and every task it depends on. */
  readonly graph: Graph;

  /** @internal Made by delayed(). */
  constructor(key: string, graph: Graph) {
    this.key = key;
    this.graph = graph;
  }

  /**
   * Runs the graph and resolves with this task's result: on `opts.client`, else on `opts.scheduler`
   * ('sync', 'threads', 'processes', 'distributed'), else on the default Client if there is one, else
   * in local threads (as Dask's delayed).
   */
  async compute(opts: { client?: Client; scheduler?: Scheduler } = {}): Promise<T> {
    if (opts.client !== undefined) {
      const [value] = (await opts.client.compute(this.graph, [this.key])) as [T];
      return value;
    }
    const [value] = (await computeGraph(this.graph, [this.key], {
      ...(opts.scheduler !== undefined ? { scheduler: opts.scheduler } : {}),
      defaultScheduler: 'threads',
    })) as [T];
    return value;
  }

  /** A short summary, not the graph. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Delayed <${this.key}>`;
  }
}

/** fn, made lazy: calling it returns a Delayed. `opts.name` prefixes keys; `opts.pure` (default true) makes keys content hashes. */
export function delayed<A extends unknown[], R>(
  fn: (...args: A) => R,
  opts: { name?: string; pure?: boolean } = {},
): (...args: { [K in keyof A]: A[K] | Delayed<A[K]> }) => Delayed<Awaited<R>> {
  const code = toCode(fn, 'fn');
  const prefix = opts.name ?? codeName(code);
  let counter = 0;
  return (...args) => {
    const graph: Graph = {};
    const wireArgs = args.map((arg) => withRefs(arg, graph));
    const digest =
      opts.pure === false
        ? `${process.pid}-${Date.now()}-${counter++}`
        : createHash('sha256')
            .update(Buffer.concat(encodeFrames([code, wireArgs])))
            .digest('hex')
            .slice(0, 24);
    const key = `${prefix}-${digest}`;
    graph[key] = [fn, ...wireArgs];
    return new Delayed(key, graph);
  };
}

function withRefs(value: unknown, graph: Graph): unknown {
  if (value instanceof Delayed) {
    Object.assign(graph, value.graph);
    return ref(value.key);
  }
  if (Array.isArray(value)) return value.map((v) => withRefs(v, graph));
  if (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withRefs(v, graph)]));
  }
  return value;
}
