// Context: one ucp_context (features, UCX configuration, memory types).
import { inspect, type InspectOptionsStylized } from 'node:util';
import { summary } from '../util/inspect.js';
import { UCXError, Status, closedError } from '../util/errors.js';
import { validateOptionalObject, validateString } from '../util/validate.js';
import { stringRecord } from '../util/settings.js';
import { native, type NativeContext } from '../native.js';
import { defaults, ucxConfigAliases } from './defaults.js';
import { DEFAULT_FEATURES, featureBits, requireFeature, type Feature } from './features.js';
import { Worker, type WorkerOptions } from './worker.js';
import { MemoryHandle, type MemMapTarget } from './memory.js';
import { kNative, kAttach, kDetach } from './internal.js';

export type { Feature };

/** Options of the {@link Context} constructor. */
export interface ContextOptions {
  /**
   * UCP features to ask for; default: ['tag', 'stream', 'am']. RMA and atomics ('rma', 'amo') are opt-in:
   * on transports where UCX emulates them (TCP, shared memory) a connected peer can read and write any
   * memory of a process whose context enables them, registered or not (docs/security.md).
   */
  features?: Feature[];
  /** UCX options without the 'UCX_' prefix, e.g. { TLS: 'tcp' }. They override UCX_* environment variables. */
  config?: Record<string, string>;
}

/**
 * One UCP context (`ucp_context_h`): the features asked for, UCX's configuration and the memory types it can move.
 * Workers are made from it; close() closes them all.
 *
 * @example
 * ```ts
 * using context = new Context({ config: { TLS: 'tcp' } });
 * const worker = context.createWorker();
 * ```
 */
export class Context {
  /** Memory types this UCX build can move, e.g. ['host'] or ['host', 'cuda', 'cuda-managed']. */
  readonly memoryTypes: string[];
  /**
   * The memory types put/get/atomics may use: all of memoryTypes with UCX's memory-type-aware (v2)
   * protocols (PROTO_ENABLE=y), only 'host' with the v1 protocols, which copy RMA data as host memory.
   */
  readonly rmaMemoryTypes: readonly string[];
  /** The features this context was created with. */
  readonly features: readonly Feature[];
  /** @internal */
  readonly [kNative]: NativeContext;
  #workers = new Set<Worker>();
  #memory = new Set<MemoryHandle>();
  #closed = false;

  constructor(opts: ContextOptions = {}) {
    validateOptionalObject(opts, 'opts');
    const { features, bits } = featureBits(opts.features ?? DEFAULT_FEATURES);
    const config = opts.config ?? {};
    validateOptionalObject(config, 'opts.config');
    const entries = new Map<string, string>();
    // defaults.ucxConfig can be changed in place, so its values are checked here, where they are used.
    stringRecord(defaults.ucxConfig, 'defaults.ucxConfig');
    const given = new Map<string, string>();
    for (const [rawKey, value] of Object.entries(config)) {
      validateString(value, `opts.config.${rawKey}`);
      given.set(rawKey.replace(/^UCX_/, ''), value);
    }
    const tls = given.get('TLS') ?? process.env.UCX_TLS ?? 'all';
    for (const [key, value] of Object.entries(defaults.ucxConfig)) {
      const names = ucxConfigAliases[key] ?? [`UCX_${key}`];
      // An option for transports UCX_TLS leaves out would only make UCX warn that nothing read it.
      const readers = READ_ONLY_BY[key];
      if (readers !== undefined && !tlsIncludes(tls, readers)) continue;
      if (names.every((name) => process.env[name] === undefined)) entries.set(key, value);
    }
    for (const [key, value] of given) entries.set(key, value);
    this.features = Object.freeze(features);
    this[kNative] = new native.Context(bits, [...entries]);
    this.memoryTypes = this[kNative].memoryTypes();
    const effective = this.config();
    const protoV2 = /^(y|yes|on|1)$/i.test(effective.PROTO_ENABLE ?? 'n');
    if (protoV2 && /^1\.13\./.test(native.version()) && this.memoryTypes.includes('cuda') && cudaCopyEnabled(effective.TLS ?? 'all')) {
      // Seen on an H200 with UCX 1.13.1 built with CUDA: the first active message between two processes
      // (every endpoint's handshake) segfaults inside ucp_am_send_nbx when the cuda_copy transport is loaded.
      this[kNative].close();
      throw new UCXError(
        `UCX ${native.version()}'s v2 protocols (PROTO_ENABLE=y) crash endpoints between processes ` +
          `when its CUDA transports are loaded; leave PROTO_ENABLE unset, exclude them (TLS: '^cuda_copy,cuda_ipc'), or use a newer UCX`,
        'UCS_ERR_UNSUPPORTED',
        Status.ERR_UNSUPPORTED,
      );
    }
    this.rmaMemoryTypes = Object.freeze(protoV2 ? [...this.memoryTypes] : ['host']);
  }

  /** True once close() was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The effective UCX configuration, keyed without the 'UCX_' prefix. */
  config(): Record<string, string> {
    if (this.#closed) throw closedError('Context');
    const result: Record<string, string> = {};
    for (const line of this[kNative].config().split('\n')) {
      const match = /^UCX_([A-Z0-9_]+)=(.*)$/.exec(line);
      if (match) result[match[1]!] = match[2]!;
    }
    return result;
  }

  /** A new worker (`ucp_worker_h`) on this context: the object that connects, listens and receives. */
  createWorker(opts?: WorkerOptions): Worker {
    if (this.#closed) throw closedError('Context');
    return new Worker(this, opts);
  }

  /** Registers memory for RMA: host memory, `{ length }` to allocate, or device memory. Needs 'rma' or 'amo'. */
  memMap(target: MemMapTarget): MemoryHandle {
    if (this.#closed) throw closedError('Context');
    requireFeature(this, 'memMap', 'rma', 'amo');
    return new MemoryHandle(this, target);
  }

  /** Closes every worker (settling their operations) and releases the context once they are gone. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const handle of this.#memory) handle.unmap();
    for (const worker of this.#workers) void worker.close();
    this[kNative].close();
  }

  /** `using context = new Context()`: closes it at the end of the scope. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** util.inspect: `Context { state, features, memoryTypes, workers }`. */
  [inspect.custom](depth: number, options: InspectOptionsStylized, inspectFn: typeof inspect): string {
    return summary(
      'Context',
      {
        state: this.#closed ? 'closed' : 'open',
        features: [...this.features],
        memoryTypes: this.memoryTypes,
        workers: this.#workers.size,
      },
      depth,
      options,
      inspectFn,
    );
  }

  /** @internal */
  [kAttach](child: Worker | MemoryHandle): void {
    if (child instanceof Worker) this.#workers.add(child);
    else this.#memory.add(child);
  }

  /** @internal */
  [kDetach](child: Worker | MemoryHandle): void {
    if (child instanceof Worker) this.#workers.delete(child);
    else this.#memory.delete(child);
  }
}

/** Whether a UCX_TLS value lets UCX load cuda_copy ('all', a list naming it or 'cuda', or a '^' list that does not). */
/**
 * Whether UCX_TLS (UCX's syntax: a list, '^' excludes, 'all', and aliases such as 'sm' or 'cuda')
 * lets in any of `transports`, named by their UCX aliases too (`aliases`).
 */
function tlsIncludes(tls: string, aliases: readonly string[]): boolean {
  const excluded = tls.startsWith('^');
  const names = (excluded ? tls.slice(1) : tls).split(',').map((name) => name.trim().replace(/:.*$/, ''));
  const named = names.some((name) => aliases.includes(name));
  return excluded ? !named : named || names.includes('all');
}

function cudaCopyEnabled(tls: string): boolean {
  return tlsIncludes(tls, ['cuda_copy', 'cuda']);
}

/** Options of node-ucx's defaults.ucxConfig that only some transports read (UCX warns of unread ones). */
const READ_ONLY_BY: Readonly<Record<string, readonly string[]>> = {
  MM_ERROR_HANDLING: ['posix', 'sysv', 'mm', 'sm', 'shm'],
  PUT_ENABLE: ['tcp'],
};
