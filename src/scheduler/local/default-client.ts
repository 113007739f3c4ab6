// The "current client" of this process: computations with no scheduler named go to it, as Dask's
// go to the last Client created. A Client sets itself here when it connects (unless told not to)
// and clears itself when it closes; anything with compute(graph, keys) can stand in.
import type { Graph } from '../graph.js';
import { invalidArgType } from '../../util/validate.js';

/**
 * What runs whole graphs somewhere else: the distributed Client, or anything shaped like it. Graphs
 * reach it prepared for travel (functions inside task arguments packed as code, travel.ts), so it
 * ships only each task's own function, as it does for client.compute(graph, keys).
 */
export interface GraphComputer {
  /** Resolves with every key's result, in the order of `keys`; rejects with a TaskFailedError naming the key that failed. */
  compute(graph: Graph, keys: string[]): Promise<unknown>;
  /**
   * Submits the graph and returns, per key, a handle whose result stays where it was computed (the
   * Client's Futures). A later graph may hold these handles as values, in the place of their keys'
   * tasks; this computer resolves them. Without it, persist() brings the results here.
   */
  submitGraph?(graph: Graph, keys: string[]): unknown[];
  /** A closed computer is no default (the Client's `closed`). */
  readonly closed?: unknown;
}

let current: GraphComputer | null = null;

/** Makes `client` the default for computations that name no scheduler; null clears it. */
export function setDefaultClient(client: GraphComputer | null): void {
  if (client !== null && (typeof client !== 'object' || typeof (client as GraphComputer).compute !== 'function')) {
    throw invalidArgType('client', 'a Client (an object with compute(graph, keys)) or null', client);
  }
  current = client;
}

/** The default Client, or null when there is none. */
export function getDefaultClient(): GraphComputer | null {
  if (current !== null && current.closed !== undefined && current.closed !== false) current = null;
  return current;
}

export function isGraphComputer(value: unknown): value is GraphComputer {
  return typeof value === 'object' && value !== null && typeof (value as GraphComputer).compute === 'function';
}
