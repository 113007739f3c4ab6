// The per-process MPI runtime: the UCX context and worker, the process table (every rank's card, and
// those of connected jobs' processes), the endpoints (made lazily, on first use, in call order), the
// context-id counter, and the job-level failure path.
import { Context, UCXError, type Endpoint, type Worker, type ProgressMode, type ErrorHandling } from '../index.js';
import type { Bootstrap, LaunchInfo } from './bootstrap.js';
import { nodeId, type ProcessCard } from './card.js';
import { LazyPeer } from './peers.js';
import { MPIError } from './errors.js';

/** 'auto': shared memory ('none') to processes on this node, 'peer' (failure detection, UCX keepalive) to the others. */
export type RankErrorHandling = ErrorHandling | 'auto';

export interface WorldOptions {
  mode: ProgressMode;
  /** The worker's spin budget and yield (µs; progress.ts), when not the mode's defaults. */
  spinUs?: number;
  yieldUs?: number;
  errorHandling: RankErrorHandling;
}

export class World {
  readonly rank: number;
  readonly size: number;
  readonly context: Context;
  readonly worker: Worker;
  /** How the ranks met (set once the bootstrap is done). */
  boot!: Bootstrap;
  readonly errorHandling: RankErrorHandling;
  /** The process table: 0 ... size-1 are the world's ranks, the rest processes of connected jobs. */
  readonly cards: ProcessCard[] = [];
  /** The next communicator context id this process may use (0: COMM_WORLD, 1: COMM_SELF). */
  nextContextId = 2;
  /** Set when the job is being torn down because a rank failed or aborted: operations then reject with it. */
  failed: MPIError | null = null;
  readonly #peers: LazyPeer<Endpoint>[] = [];
  readonly #byAddress = new Map<string, number>();

  constructor(launch: LaunchInfo, opts: WorldOptions) {
    this.rank = launch.rank;
    this.size = launch.size;
    this.errorHandling = opts.errorHandling;
    // Windows (RMA, atomics) need 'rma' and 'amo'; the ranks' peers are the job's own, joined by its secret.
    // 'auto': endpoints with peer error handling go to other nodes; keep shared memory out of them (UCX
    // would offer it between network namespaces of one machine, where its wake-ups cannot cross).
    const mmSet = ['UCX_MM_ERROR_HANDLING', 'UCX_POSIX_ERROR_HANDLING', 'UCX_SYSV_ERROR_HANDLING'].some((name) => process.env[name] !== undefined);
    const config = opts.errorHandling === 'auto' && !mmSet ? { MM_ERROR_HANDLING: 'n' } : undefined;
    this.context = new Context({ features: ['tag', 'stream', 'am', 'rma', 'amo'], ...(config && { config }) });
    const workerMode: ErrorHandling = opts.errorHandling === 'auto' ? 'none' : opts.errorHandling;
    this.worker = this.context.createWorker({
      progress: opts.mode,
      errorHandling: workerMode,
      acceptAddressConnections: true,
      ...(opts.spinUs !== undefined && { spinUs: opts.spinUs }),
      ...(opts.yieldUs !== undefined && { yieldUs: opts.yieldUs }),
    });
  }

  /** Adds processes to the table (the world's ranks first, in rank order); a known address keeps its index. */
  addProcesses(cards: readonly ProcessCard[]): number[] {
    return cards.map((card) => {
      const key = card.address.toString('base64');
      const known = this.#byAddress.get(key);
      if (known !== undefined) return known;
      const index = this.cards.length;
      this.cards.push(card);
      this.#byAddress.set(key, index);
      this.#peers.push(new LazyPeer(() => this.#connect(index)));
      return index;
    });
  }

  /** The endpoint to a process, if it is connected. */
  connected(index: number): Endpoint | null {
    return this.#peers[index]?.endpoint ?? null;
  }

  /** Runs `operation` with the endpoint to a process, connecting first if needed; operations keep their call order. */
  use<T>(index: number, operation: (endpoint: Endpoint) => Promise<T>): Promise<T> {
    const peer = this.#peers[index];
    if (peer === undefined) return Promise.reject(new MPIError('ERR_MPI_RANK', `no process ${index} in this job's table`));
    return peer.use(operation);
  }

  /** The endpoint to a process: an Endpoint once connected, a Promise while connecting. */
  endpoint(index: number): Endpoint | Promise<Endpoint> {
    return this.connected(index) ?? this.use(index, (endpoint) => Promise.resolve(endpoint));
  }

  /** The error handling of endpoints to a process ('auto': by node). */
  errorHandlingFor(index: number): ErrorHandling {
    if (this.errorHandling !== 'auto') return this.errorHandling;
    return this.cards[index]?.node === nodeId() ? 'none' : 'peer';
  }

  /** A process as messages name it: "rank 3 (pid 1234 on host b)". */
  describe(index: number): string {
    const card = this.cards[index];
    const who = index < this.size ? `rank ${index}` : `process ${index - this.size} of a connected job`;
    return card === undefined ? who : `${who} (pid ${card.pid} on ${card.host})`;
  }

  async #connect(index: number): Promise<Endpoint> {
    const card = this.cards[index]!;
    try {
      const endpoint = await this.worker.connect({ address: card.address }, { errorHandling: this.errorHandlingFor(index) });
      // Errors reach the operations; the listener only keeps 'error' from being unhandled.
      endpoint.on('error', () => {});
      endpoint.once('close', () => {
        if (this.connected(index) === endpoint) this.#peers[index]!.reset();
      });
      return endpoint;
    } catch (error) {
      throw this.mapError(error, `connecting to ${this.describe(index)}`);
    }
  }

  /** UCX errors as MPI errors. */
  mapError(error: unknown, what: string): unknown {
    if (this.failed !== null) return this.failed;
    if (error instanceof MPIError) return error;
    if (error instanceof UCXError) {
      switch (error.code) {
        case 'UCS_ERR_MESSAGE_TRUNCATED':
          return new MPIError('ERR_MPI_TRUNCATE', `${what}: the message is longer than the receive buffer`, { cause: error });
        case 'UCS_ERR_CONNECTION_RESET':
        case 'UCS_ERR_ENDPOINT_TIMEOUT':
        case 'UCS_ERR_UNREACHABLE':
        case 'UCS_ERR_REJECTED':
          return new MPIError('ERR_MPI_PROC_FAILED', `${what}: the peer process failed (${error.code})`, { cause: error });
        case 'ERR_UCX_CLOSED':
          return new MPIError('ERR_MPI_COMM', `${what}: MPI is finalized`, { cause: error });
        default:
          return error;
      }
    }
    return error;
  }

  /** Closes the endpoints (gracefully), the worker and the context. */
  async close(): Promise<void> {
    await this.worker.close();
    this.context.close();
  }
}
