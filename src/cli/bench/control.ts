// ucx-bench's control plane: small structured-clone messages over the same
// node-ucx endpoint that carries the data (Endpoint.sendObject/recvObject), so
// loopback and two machines run the same code.
import type { Endpoint } from '../../index.js';
import type { Case } from './args.js';

/** What a server tells its client about itself. */
export interface PeerInfo {
  binding: string;
  ucx: string;
  progress: string;
  errorHandling: string;
  memoryTypes: string[];
  pid: number;
  hostname: string;
  /** Whether ucx_perftest is on the server's PATH (for --compare). */
  perftest: boolean;
}

/** One ucx_perftest measurement for --compare: the server side runs `ucx_perftest -p port`. */
export interface PerftestJob {
  test: string;
  size: number;
  iters: number;
  warmup: number;
  /** ucx_perftest -m: where both sides' buffers live. */
  mem: 'host' | 'cuda';
}

export type Control =
  | { type: 'hello'; binding: string }
  | { type: 'welcome'; peer: PeerInfo }
  /** Measure `case`; `rkey`: the client's packed region (put_lat). */
  | { type: 'run'; id: number; case: Case; rkey: Uint8Array | null }
  /** The server is set up (receives posted); `rkey`: its packed region for RMA tests; `port`: its transport listener's (transport tests). */
  | { type: 'ready'; rkey: Uint8Array | null; port?: number }
  /** One-sided tests: the client is done with the server's memory. */
  | { type: 'finish' }
  /** The server's side of a run is over; `check`: null, or what its check of the data found wrong. */
  | { type: 'done'; check: string | null }
  | { type: 'error'; message: string }
  /** --compare: start ucx_perftest servers for these jobs, one after the other, after this connection closes. */
  | { type: 'perftest'; jobs: PerftestJob[]; env: Record<string, string>; errorMode: boolean }
  /** The ports the perftest servers will listen on, in job order; null when ucx_perftest is missing there. */
  | { type: 'perftest-ports'; ports: number[] | null; reason: string | null }
  /** --baseline tcp: start a node:net baseline server for this session. */
  | { type: 'net' }
  /** Its port (on the host the client connected to). */
  | { type: 'net-port'; port: number }
  /** The end of a session; the server answers with 'bye' too, then both close. */
  | { type: 'bye' };

export type ControlType = Control['type'];
export type ControlOf<T extends ControlType> = Extract<Control, { type: T }>;

/** The peer reported a failure on its side. */
export class PeerError extends Error {
  override name = 'PeerError';
}

const CONTROL_TYPES: readonly ControlType[] = [
  'hello',
  'welcome',
  'run',
  'ready',
  'finish',
  'done',
  'error',
  'perftest',
  'perftest-ports',
  'net',
  'net-port',
  'bye',
];

function isControl(value: unknown): value is Control {
  if (typeof value !== 'object' || value === null) return false;
  const type = (value as { type?: unknown }).type;
  return typeof type === 'string' && (CONTROL_TYPES as readonly string[]).includes(type);
}

export function sendControl(ep: Endpoint, message: Control): Promise<void> {
  return ep.sendObject(message);
}

/** The next control message, whatever its type; rejects after `ms` (Infinity: never). */
export async function recvControl(ep: Endpoint, ms = Infinity): Promise<Control> {
  const signal = Number.isFinite(ms) ? AbortSignal.timeout(ms) : undefined;
  let value: unknown;
  try {
    value = await ep.recvObject({ signal });
  } catch (error) {
    if (signal?.aborted) throw new Error(`no answer from the peer within ${ms / 1000} s`, { cause: error });
    throw error;
  }
  if (!isControl(value)) throw new Error('the peer sent something that is not a ucx-bench control message (is it a ucx-bench of another version?)');
  return value;
}

/** The next control message, which must be of type `type` ('error' from the peer becomes a PeerError). */
export async function expectControl<T extends ControlType>(ep: Endpoint, type: T, ms = Infinity): Promise<ControlOf<T>> {
  const message = await recvControl(ep, ms);
  if (message.type === 'error') throw new PeerError(`peer: ${message.message}`);
  if (message.type !== type) throw new Error(`expected '${type}' from the peer, got '${message.type}'`);
  return message as ControlOf<T>;
}
