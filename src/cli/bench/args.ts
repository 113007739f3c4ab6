// ucx-bench: the test catalogue, size parsing and command-line parsing. Pure
// functions with no native code, so unit tests can import them directly.
import { parseArgs } from 'node:util';

export type ProgressModeName = 'event' | 'poll' | 'adaptive';
export type ErrorHandlingName = 'peer' | 'none';
/** How a test moves its data. */
export type Family = 'tag' | 'ep' | 'stream' | 'am' | 'obj' | 'put' | 'get' | 'atomic' | 'transport';
/**
 * Which API a test drives: promises (one per operation, the default), sync (Batch operations that return
 * at once and synchronous receives, spinning: no promise per message), or batch (many messages per call:
 * Batch.tagSendMany, TagReceiver).
 */
export type Api = 'promise' | 'sync' | 'batch';
/** lat: ping-pong (or one blocking op per iteration); bw: windows of pipelined operations. */
export type Kind = 'lat' | 'bw';
/** The number a test is judged by, and what --compare divides. */
export type Metric = 'latency' | 'bandwidth' | 'rate';

export interface TestInfo {
  kind: Kind;
  family: Family;
  metric: Metric;
  /** The ucx_perftest test measuring the same thing (null: none). */
  perftest: string | null;
  /** Which API it drives (default promise). */
  api?: Api;
  defaultSizes: readonly number[];
  description: string;
}

const K = 1024;
const M = 1024 * 1024;

export const TESTS = {
  tag_lat: { kind: 'lat', family: 'tag', metric: 'latency', perftest: 'tag_lat', defaultSizes: [8], description: 'tagSend/tagRecv ping-pong, half round trip' },
  tag_bw: {
    kind: 'bw',
    family: 'tag',
    metric: 'bandwidth',
    perftest: 'tag_bw',
    defaultSizes: [64 * K, M],
    description: 'windows of tagSend, acknowledged by the receiver',
  },
  ep_lat: {
    kind: 'lat',
    family: 'ep',
    metric: 'latency',
    perftest: 'tag_lat',
    defaultSizes: [8],
    description: 'Endpoint send/recv ping-pong, half round trip',
  },
  ep_bw: {
    kind: 'bw',
    family: 'ep',
    metric: 'bandwidth',
    perftest: 'tag_bw',
    defaultSizes: [64 * K, M],
    description: 'windows of Endpoint send, acknowledged by the receiver',
  },
  stream_lat: {
    kind: 'lat',
    family: 'stream',
    metric: 'latency',
    perftest: 'stream_lat',
    defaultSizes: [8],
    description: 'streamSend/streamRecv(waitAll) ping-pong, half round trip',
  },
  stream_bw: {
    kind: 'bw',
    family: 'stream',
    metric: 'bandwidth',
    perftest: 'stream_bw',
    defaultSizes: [64 * K, M],
    description: 'windows of streamSend, acknowledged by the receiver',
  },
  am_lat: {
    kind: 'lat',
    family: 'am',
    metric: 'latency',
    perftest: 'ucp_am_lat',
    defaultSizes: [8],
    description: 'amSend ping-pong between active message handlers, half round trip',
  },
  am_bw: {
    kind: 'bw',
    family: 'am',
    metric: 'bandwidth',
    perftest: 'ucp_am_bw',
    defaultSizes: [64 * K, M],
    description: 'windows of amSend, acknowledged by the receiver',
  },
  obj_lat: {
    kind: 'lat',
    family: 'obj',
    metric: 'latency',
    perftest: null,
    defaultSizes: [8],
    description: 'sendObject/recvObject ping-pong of { seq, payload: string of SIZE chars }',
  },
  put_lat: {
    kind: 'lat',
    family: 'put',
    metric: 'latency',
    perftest: 'ucp_put_lat',
    defaultSizes: [8],
    description: 'put ping-pong, each side polls its memory for the last byte (spins, any progress mode)',
  },
  put_bw: {
    kind: 'bw',
    family: 'put',
    metric: 'bandwidth',
    perftest: 'ucp_put_bw',
    defaultSizes: [64 * K, M],
    description: 'windows of put, each ended by Endpoint.flush() (remote completion)',
  },
  get_bw: {
    kind: 'bw',
    family: 'get',
    metric: 'bandwidth',
    perftest: 'ucp_get',
    defaultSizes: [64 * K, M],
    description: 'windows of get, complete when the data is local',
  },
  atomic_lat: {
    kind: 'lat',
    family: 'atomic',
    metric: 'latency',
    perftest: 'ucp_fadd',
    defaultSizes: [8],
    description: "one 'fadd' at a time: the whole operation (not halved); SIZE is 4 or 8",
  },
  msg_rate: {
    kind: 'bw',
    family: 'tag',
    metric: 'rate',
    perftest: 'tag_bw',
    defaultSizes: [8],
    description: 'message rate: windows of small tagSend, acknowledged by the receiver',
  },
  tag_bw_batch: {
    kind: 'bw',
    family: 'tag',
    metric: 'bandwidth',
    perftest: 'tag_bw',
    api: 'batch',
    defaultSizes: [64 * K, M],
    description: 'windows of Batch.tagSend, received by Batch.tagRecv (preposted, no promise per message), acknowledged',
  },
  put_bw_batch: {
    kind: 'bw',
    family: 'put',
    metric: 'bandwidth',
    perftest: 'ucp_put_bw',
    api: 'batch',
    defaultSizes: [64 * K, M],
    description: 'windows of Batch.put, each ended by Endpoint.flush() (remote completion)',
  },
  get_bw_batch: {
    kind: 'bw',
    family: 'get',
    metric: 'bandwidth',
    perftest: 'ucp_get',
    api: 'batch',
    defaultSizes: [64 * K, M],
    description: 'windows of Batch.get, each ended by Batch.wait() (the data is local)',
  },
  msg_rate_batch: {
    kind: 'bw',
    family: 'tag',
    metric: 'rate',
    perftest: 'tag_bw',
    api: 'batch',
    defaultSizes: [8],
    description: 'message rate without a promise per message: each window one Batch.tagSendMany, received by a TagReceiver in batches, acknowledged',
  },
  tag_lat_sync: {
    kind: 'lat',
    family: 'tag',
    metric: 'latency',
    perftest: 'tag_lat',
    api: 'sync',
    defaultSizes: [8],
    description: 'Batch.tagSend / worker.tryTagRecv ping-pong, spinning (no promise per message), half round trip',
  },
  am_lat_sync: {
    kind: 'lat',
    family: 'am',
    metric: 'latency',
    perftest: 'ucp_am_lat',
    api: 'sync',
    defaultSizes: [8],
    description: 'Batch.amSend / ActiveMessageQueue.tryRecv ping-pong, spinning, half round trip',
  },
  atomic_lat_sync: {
    kind: 'lat',
    family: 'atomic',
    metric: 'latency',
    perftest: 'ucp_fadd',
    api: 'sync',
    defaultSizes: [8],
    description: "Batch.atomic 'fadd', one at a time, the value back at once when UCX completes it inline; SIZE is 4 or 8",
  },
  transport_lat: {
    kind: 'lat',
    family: 'transport',
    metric: 'latency',
    perftest: 'tag_lat',
    defaultSizes: [8],
    description: 'node-ucx/transport (ucx://) Connection send/recv ping-pong of one frame, half round trip',
  },
  transport_bw: {
    kind: 'bw',
    family: 'transport',
    metric: 'bandwidth',
    perftest: 'tag_bw',
    defaultSizes: [64 * K, M],
    description: 'windows of node-ucx/transport Connection send (one frame each), acknowledged by the receiver',
  },
} as const satisfies Record<string, TestInfo>;

export type TestName = keyof typeof TESTS;
export const TEST_NAMES = Object.keys(TESTS) as TestName[];
/** What `ucx-bench` runs with no arguments. */
export const DEFAULT_TESTS: readonly TestName[] = ['tag_lat', 'ep_lat', 'tag_bw', 'ep_bw'];

/** Tests that cannot run on device memory (--mem cuda), and why. */
export const HOST_MEMORY_TESTS: Partial<Record<TestName, string>> = {
  obj_lat: 'it sends JavaScript values, not buffers',
  msg_rate_batch: "its TagReceiver's slots are host memory",
  atomic_lat_sync: 'the server checks the counter from the CPU',
  transport_lat: 'transport frames arrive in host Buffers',
  transport_bw: 'transport frames arrive in host Buffers',
  put_lat: 'each side polls its own memory from the CPU',
  atomic_lat: 'the server checks the counter from the CPU',
};

export function isTestName(name: string): name is TestName {
  return Object.hasOwn(TESTS, name);
}

export function testInfo(name: TestName): TestInfo {
  return TESTS[name];
}

export function apiOf(name: TestName): Api {
  return (TESTS[name] as TestInfo).api ?? 'promise';
}

/** A command-line mistake: printed with the usage hint, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: K,
  kb: K,
  kib: K,
  m: M,
  mb: M,
  mib: M,
  g: K * M,
  gb: K * M,
  gib: K * M,
};
/** The largest message size accepted (a Node Buffer's limit is higher, but a benchmark beyond this is a typo). */
export const MAX_SIZE = 1024 * M;
const MAX_SIZES = 4096;

/** '8' → 8, '64K' → 65536, '1M' → 1048576, '1.5K' → 1536 (units are powers of 1024). */
export function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = match ? UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) throw new UsageError(`bad size '${text}' (examples: 8, 4096, 64K, 1M)`);
  const value = Number(match[1]) * unit;
  if (!Number.isInteger(value)) throw new UsageError(`size '${text}' is not a whole number of bytes`);
  if (value < 1 || value > MAX_SIZE) throw new UsageError(`size '${text}' is out of range (1 B ... ${formatSize(MAX_SIZE)})`);
  return value;
}

/**
 * A comma list of sizes and ranges, in order, without repeats:
 *   8,64K,1M       three sizes
 *   8:4M:x2        8, 16, 32, ... 4M (multiply by 2)
 *   1K:8K:+1K      1K, 2K, ... 8K (add 1K; a bare step also adds)
 *   8:1M           same as 8:1M:x2
 */
export function parseSizes(text: string): number[] {
  const sizes: number[] = [];
  const push = (size: number): void => {
    if (!sizes.includes(size)) sizes.push(size);
    if (sizes.length > MAX_SIZES) throw new UsageError(`more than ${MAX_SIZES} sizes in '${text}'`);
  };
  const parts = text.split(',').map((part) => part.trim());
  if (parts.length === 0 || parts.some((part) => part === '')) throw new UsageError(`bad size list '${text}'`);
  for (const part of parts) {
    const fields = part.split(':');
    if (fields.length === 1) {
      push(parseSize(part));
      continue;
    }
    if (fields.length > 3) throw new UsageError(`bad size range '${part}' (START:END[:xFACTOR|:+STEP])`);
    const start = parseSize(fields[0]!);
    const end = parseSize(fields[1]!);
    if (end < start) throw new UsageError(`size range '${part}' ends before it starts`);
    const step = (fields[2] ?? 'x2').trim();
    if (/^[x*]/i.test(step)) {
      const factor = Number(step.slice(1));
      if (!Number.isFinite(factor) || factor <= 1) throw new UsageError(`bad factor in size range '${part}' (must be > 1, e.g. x2)`);
      for (let size = start; size <= end; size = Math.max(size + 1, Math.round(size * factor))) push(size);
    } else {
      const add = parseSize(step.replace(/^\+/, ''));
      for (let size = start; size <= end; size += add) push(size);
    }
  }
  return sizes;
}

/** 8 → '8', 65536 → '64K', 1048576 → '1M', 1000 → '1000'. */
export function formatSize(size: number): string {
  if (size >= K * M && size % (K * M) === 0) return `${size / (K * M)}G`;
  if (size >= M && size % M === 0) return `${size / M}M`;
  if (size >= K && size % K === 0) return `${size / K}K`;
  return String(size);
}

export type Role = 'loopback' | 'server' | 'client' | 'peer';
export type OutputFormat = 'table' | 'json' | 'csv' | 'markdown';

export interface BenchOptions {
  command: 'run' | 'info' | 'help' | 'version' | 'list' | 'report';
  role: Role;
  tests: TestName[];
  /** Sizes from -s; null: each test's default sizes. */
  sizes: number[] | null;
  /** null: chosen per test and size (defaultIterations). */
  iters: number | null;
  warmup: number | null;
  window: number;
  progress: ProgressModeName;
  /** null: node-ucx's default (defaults.errorHandling). */
  errorHandling: ErrorHandlingName | null;
  /** UCX options without the UCX_ prefix, from --ucx KEY=VALUE. */
  ucx: Record<string, string>;
  percentile: number;
  format: OutputFormat;
  mem: 'host' | 'cuda';
  compare: boolean;
  /** --server: address to listen on. */
  host: string;
  /** --server: port to listen on (0: any free port, printed). */
  port: number;
  /** --client HOST:PORT */
  connect: { host: string; port: number } | null;
  /** Per test and size: how long one measurement may take before the run fails (ms). */
  timeoutMs: number;
  /** Measure every case this many times (and ucx_perftest too) and report the median run. */
  repeat: number;
  /** Whether the user chose anything about what to run (the default run prints hints). */
  defaultRun: boolean;
  /** --plot FILE.svg|FILE.html: draw latency and bandwidth against size after the run. */
  plot: string | null;
  /** --baseline tcp: also measure Node's net on the *_lat and *_bw tests. */
  baseline: 'tcp' | null;
  /** --pin: the peer (and its ucx_perftest server) on CPU 0, this process (and its ucx_perftest client) on CPU 1. */
  pin: boolean;
  /** report: the document whose generated block to rewrite. */
  doc: string;
}

export const DEFAULT_PORT = 13338;
export const DEFAULT_WINDOW = 64;

function positiveInt(text: string, option: string, min = 1, max = 1e9): number {
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`${option} wants a whole number, got '${text}'`);
  const value = Number(text);
  if (value < min || value > max) throw new UsageError(`${option} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function oneOf<T extends string>(text: string, option: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(text)) throw new UsageError(`${option} must be one of ${choices.join(', ')}, got '${text}'`);
  return text as T;
}

/** 'host:port', '[v6]:port'. */
export function parseHostPort(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d+)$/.exec(text.trim());
  if (!match) throw new UsageError(`--client wants HOST:PORT, got '${text}'`);
  return { host: (match[1] ?? match[2])!, port: positiveInt(match[3]!, '--client port', 1, 65535) };
}

export function parseTests(text: string): TestName[] {
  const tests: TestName[] = [];
  for (const raw of text
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '')) {
    const names = raw === 'all' ? TEST_NAMES : [raw];
    for (const name of names) {
      if (!isTestName(name)) throw new UsageError(`unknown test '${name}' (tests: ${TEST_NAMES.join(', ')}, or all)`);
      if (!tests.includes(name)) tests.push(name);
    }
  }
  if (tests.length === 0) throw new UsageError('-t/--test wants at least one test');
  return tests;
}

const OPTIONS = {
  test: { type: 'string', short: 't', multiple: true },
  sizes: { type: 'string', short: 's', multiple: true },
  iters: { type: 'string', short: 'n' },
  warmup: { type: 'string', short: 'w' },
  window: { type: 'string' },
  progress: { type: 'string' },
  'error-handling': { type: 'string' },
  ucx: { type: 'string', multiple: true },
  percentile: { type: 'string' },
  json: { type: 'boolean' },
  csv: { type: 'boolean' },
  markdown: { type: 'boolean' },
  mem: { type: 'string' },
  compare: { type: 'boolean' },
  server: { type: 'boolean' },
  client: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  peer: { type: 'boolean' },
  timeout: { type: 'string' },
  repeat: { type: 'string', short: 'r' },
  plot: { type: 'string' },
  baseline: { type: 'string' },
  pin: { type: 'boolean' },
  doc: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const;

function parseOptions(argv: readonly string[]) {
  try {
    return parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message.split('\n')[0]!.replace(/\. To specify a positional.*$/, ''));
  }
}

/** Parses ucx-bench's arguments (without `node script`). Throws UsageError. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  const { values, positionals } = parseOptions(argv);
  let command: BenchOptions['command'] = 'run';
  if (positionals.length > 0) {
    const [first, ...rest] = positionals;
    if (first !== 'info' && first !== 'list' && first !== 'run' && first !== 'report') {
      throw new UsageError(`unknown command '${first}' (commands: run, info, list, report)`);
    }
    if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}'`);
    command = first;
  }
  if (values.help) command = 'help';
  else if (values.version) command = 'version';

  const roles = [values.server && 'server', values.client !== undefined && 'client', values.peer && 'peer'].filter(Boolean);
  if (roles.length > 1) throw new UsageError(`--${roles[0]} and --${roles[1]} cannot be combined`);
  const role: Role = values.server ? 'server' : values.client !== undefined ? 'client' : values.peer ? 'peer' : 'loopback';
  if (values.port !== undefined && role !== 'server') throw new UsageError('--port goes with --server (the client names the port in --client HOST:PORT)');
  if (values.host !== undefined && role !== 'server') throw new UsageError('--host goes with --server');
  const formats = (['json', 'csv', 'markdown'] as const).filter((format) => values[format] === true);
  if (formats.length > 1) throw new UsageError(`--${formats[0]} and --${formats[1]} cannot be combined`);

  const tests = values.test === undefined ? [...DEFAULT_TESTS] : parseTests(values.test.join(','));
  const sizes = values.sizes === undefined ? null : parseSizes(values.sizes.join(','));

  const ucx: Record<string, string> = {};
  for (const setting of values.ucx ?? []) {
    const match = /^(?:UCX_)?([A-Za-z0-9_]+)=(.*)$/.exec(setting);
    if (!match) throw new UsageError(`--ucx wants KEY=VALUE (e.g. TLS=tcp), got '${setting}'`);
    ucx[match[1]!.toUpperCase()] = match[2]!;
  }

  if (values.plot !== undefined && !/\.(svg|html?)$/i.test(values.plot)) throw new UsageError(`--plot wants a FILE.svg or FILE.html, got '${values.plot}'`);
  if (values.doc !== undefined && command !== 'report') throw new UsageError('--doc goes with the report command');
  if (values.pin === true && (role === 'server' || role === 'client')) throw new UsageError('--pin goes with the loopback run (its own peer on this machine)');

  let percentile = 99;
  const mem = oneOf(values.mem ?? 'host', '--mem', ['host', 'cuda'] as const);
  if (mem === 'cuda') {
    const hostOnly = tests.find((test) => HOST_MEMORY_TESTS[test] !== undefined);
    if (hostOnly !== undefined) throw new UsageError(`--mem cuda: ${hostOnly} runs on host memory only (${HOST_MEMORY_TESTS[hostOnly]})`);
  }
  if (values.percentile !== undefined) {
    percentile = Number(values.percentile);
    if (!Number.isFinite(percentile) || percentile <= 0 || percentile >= 100) {
      throw new UsageError(`--percentile must be a number between 0 and 100 (exclusive), got '${values.percentile}'`);
    }
  }

  return {
    command,
    role,
    tests,
    sizes,
    iters: values.iters === undefined ? null : positiveInt(values.iters, '-n/--iters'),
    warmup: values.warmup === undefined ? null : positiveInt(values.warmup, '-w/--warmup', 0),
    window: values.window === undefined ? DEFAULT_WINDOW : positiveInt(values.window, '--window', 1, 65536),
    progress: oneOf(values.progress ?? 'event', '--progress', ['event', 'poll', 'adaptive'] as const),
    errorHandling: values['error-handling'] === undefined ? null : oneOf(values['error-handling'], '--error-handling', ['peer', 'none'] as const),
    ucx,
    percentile,
    format: formats[0] ?? 'table',
    mem,
    compare: values.compare === true,
    host: values.host ?? '0.0.0.0',
    port: values.port === undefined ? DEFAULT_PORT : positiveInt(values.port, '--port', 0, 65535),
    connect: values.client === undefined ? null : parseHostPort(values.client),
    timeoutMs: values.timeout === undefined ? 60_000 : positiveInt(values.timeout, '--timeout (seconds)', 1, 86_400) * 1000,
    repeat: values.repeat === undefined ? 1 : positiveInt(values.repeat, '-r/--repeat', 1, 1000),
    defaultRun: values.test === undefined && values.sizes === undefined && values.iters === undefined,
    plot: values.plot ?? null,
    baseline: values.baseline === undefined ? null : oneOf(values.baseline, '--baseline', ['tcp'] as const),
    pin: values.pin === true,
    doc: values.doc ?? 'docs/performance.md',
  };
}

/** One measurement to make: a test at one size. */
export interface Case {
  test: TestName;
  size: number;
  iters: number;
  warmup: number;
  window: number;
  /** Where the messages (and for put_bw/get_bw both regions) live. */
  mem: 'host' | 'cuda';
}

/** Iterations when -n is not given: enough to be steady, few enough to stay quick on a slow link. */
export function defaultIterations(test: TestName, size: number): number {
  const info = TESTS[test];
  const budget = info.kind === 'lat' ? 256 * M : 1024 * M;
  const max = info.kind === 'lat' ? 10_000 : 100_000;
  return Math.max(100, Math.min(max, Math.round(budget / size)));
}

export function defaultWarmup(iters: number): number {
  return Math.max(10, Math.min(1000, Math.round(iters / 10)));
}

/** The (test, size) pairs a run measures, in order. */
export function planCases(options: Pick<BenchOptions, 'tests' | 'sizes' | 'iters' | 'warmup' | 'window' | 'mem'>): Case[] {
  const cases: Case[] = [];
  for (const test of options.tests) {
    let sizes: readonly number[] = options.sizes ?? TESTS[test].defaultSizes;
    if (TESTS[test].family === 'atomic') {
      // Atomics work on 4- or 8-byte words.
      const words = sizes.filter((size) => size === 4 || size === 8);
      sizes = words.length > 0 ? words : [8];
    }
    for (const size of sizes) {
      const iters = options.iters ?? defaultIterations(test, size);
      cases.push({ test, size, iters, warmup: options.warmup ?? defaultWarmup(iters), window: options.window, mem: options.mem });
    }
  }
  return cases;
}

/** The message sizes of each window of a bandwidth test: warm-up windows first, then measured ones. */
export function windowCounts(total: number, window: number): number[] {
  const counts: number[] = [];
  for (let left = total; left > 0; left -= window) counts.push(Math.min(window, left));
  return counts;
}

export const USAGE = `Usage: ucx-bench [run] [options]        benchmark node-ucx against a peer (default: its own, on loopback)
       ucx-bench info                   UCX version, memory types, transports and devices
       ucx-bench list                   the tests and what each measures
       ucx-bench report [--doc FILE]    re-measure the targets (P1-P7) and rewrite FILE's generated block
                                        (default docs/performance.md; the plot goes next to it, .svg)

Topology:
  (default)               start a peer process on 127.0.0.1 and run as its client
  --server [--port N] [--host ADDR]
                          serve clients (default port ${DEFAULT_PORT}; 0 picks a free port and prints it)
  --client HOST:PORT      run against a ucx-bench --server on another machine

What to run:
  -t, --test LIST         comma list of tests, or 'all' (default: ${DEFAULT_TESTS.join(',')})
  -s, --sizes LIST        message sizes: 8,64K,1M or ranges 8:4M:x2, 1K:8K:+1K (default: per test)
  -n, --iters N           measured iterations (messages for bandwidth tests); default: per size
  -w, --warmup N          warm-up iterations (default: iters/10, 10 ... 1000)
      --window N          operations in flight per window in bandwidth tests (default: ${DEFAULT_WINDOW})
      --mem host|cuda     memory the messages live in (default: host); cuda needs a UCX built
                          with CUDA and a GPU, and is not for obj_lat, put_lat, atomic_lat
  -r, --repeat N          measure everything N times, interleaved, and report the median run (default: 1)

How:
      --progress event|poll|adaptive   worker progress mode (default: event)
      --error-handling peer|none       endpoint error mode (default: node-ucx's, peer). On UCX 1.13
                          'peer' restricts UCX to TCP even on one machine; 'none' allows shared memory
      --ucx KEY=VALUE     a UCX setting for the Context (repeatable), e.g. --ucx TLS=tcp
      --timeout SECONDS   longest one measurement may take (default: 60)
      --pin               loopback: the peer on CPU 0 and this process on CPU 1 (taskset), ucx_perftest
                          likewise (-c): one core each, wherever the scheduler would have put them

Output:
      --percentile P      the high percentile column (default: 99)
      --json | --csv      machine-readable results on stdout
      --markdown          the table (and its settings) as Markdown, as in docs/performance.md
      --compare           also run ucx_perftest (raw UCX) on the same tests and sizes; adds
                          a raw column and the ratio node-ucx / raw UCX
      --baseline tcp      also measure Node's net (TCP_NODELAY ping-pong, acknowledged windows) on the
                          *_lat and *_bw tests; adds a net column and the ratio node-ucx / net
      --plot FILE.svg|FILE.html
                          draw p50 latency (log) and MB/s against message size (log2), one line per test
  -h, --help              this text
  -V, --version           node-ucx and UCX versions
`;
