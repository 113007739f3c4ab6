// The per-process MPI runtime: the UCX context and worker, every rank's worker
// address, the endpoints (made lazily, on first use), the context-id counter,
// and the job-level failure path.
import { Context, UCXError, type Endpoint, type Worker, type ProgressMode, type ErrorHandling } from '../index.js';
import type { Bootstrap } from './bootstrap.js';
import { MPIError } from './errors.js';

export interface WorldOptions {
  progress: ProgressMode;
  errorHandling: ErrorHandling;
}

export class World {
  readonly rank: number;
  readonly size: number;
  readonly context: Context;
  readonly worker: Worker;
  readonly boot: Bootstrap;
  addresses: Buffer[] = [];
  /** The next communicator context id this process may use (0: COMM_WORLD, 1: COMM_SELF). */
  nextContextId = 2;
  /** Set when the job is being torn down because a rank failed or aborted: operations then reject with it. */
  failed: MPIError | null = null;
  readonly #endpoints: (Endpoint | Promise<Endpoint> | undefined)[];

  constructor(boot: Bootstrap, opts: WorldOptions) {
    this.boot = boot;
    this.rank = boot.launch.rank;
    this.size = boot.launch.size;
    // Windows (RMA, atomics) need 'rma' and 'amo'; the ranks' peers are the job's own, joined by its secret.
    this.context = new Context({ features: ['tag', 'stream', 'am', 'rma', 'amo'] });
    this.worker = this.context.createWorker({ progress: opts.progress, errorHandling: opts.errorHandling, acceptAddressConnections: true });
    this.#endpoints = new Array<Endpoint | Promise<Endpoint> | undefined>(this.size);
  }

  /** The endpoint to a world rank: an Endpoint once connected, a Promise while connecting (sends chain on it, in order). */
  endpoint(worldRank: number): Endpoint | Promise<Endpoint> {
    const known = this.#endpoints[worldRank];
    if (known !== undefined) return known;
    const address = this.addresses[worldRank];
    if (address === undefined) return Promise.reject(new MPIError('ERR_MPI_RANK', `no address for rank ${worldRank}`));
    const connecting = this.worker.connect({ address }).then(
      (endpoint) => {
        this.#endpoints[worldRank] = endpoint;
        // Errors reach the operations; the listener only keeps 'error' from being unhandled.
        endpoint.on('error', () => {});
        return endpoint;
      },
      (error: unknown) => {
        this.#endpoints[worldRank] = undefined;
        throw this.mapError(error, `connecting to rank ${worldRank}`);
      });
    this.#endpoints[worldRank] = connecting;
    return connecting;
  }

  /** The endpoints made so far. */
  connectedEndpoints(): Endpoint[] {
    return this.#endpoints.filter((e): e is Endpoint => e !== undefined && !(e instanceof Promise));
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
