// Dashboard: a read-only HTTP server inside the scheduler's process (node:http, no
// dependency). It serves one page (assets/dashboard/: plain HTML, CSS and JS shipped
// with the package: no build step, no framework, nothing from a CDN) that follows the cluster live over Server-Sent Events, a JSON snapshot, and
// /metrics in the Prometheus text format. It only reads the scheduler's state and
// listens to its events: no route changes anything. Updates are batched and throttled
// (at most 1000 / intervalMs a second, and never more than a tenth of the event loop).
import http from 'node:http';
import fs from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { Scheduler, TaskRecord } from './scheduler.js';
import { TaskStats, prometheusText, PROMETHEUS_CONTENT_TYPE } from './metrics.js';
import { invalidArgType, validateInteger, validatePort } from '../util/validate.js';

/** Where the scheduler's dashboard listens (the `dashboard` option of Scheduler.start() and LocalCluster). */
export interface DashboardOptions {
  /** The interface to listen on (default 127.0.0.1: only this machine). Anything else shows key names and worker addresses to whoever can reach it. */
  host?: string;
  /** The TCP port (default 8787; if that one is taken, any free port, with a warning). 0: any free port. */
  port?: number;
  /** The least time between two updates of an open page (ms, default 100: at most 10 a second). */
  intervalMs?: number;
}

export const DEFAULT_DASHBOARD_PORT = 8787;

/** Finished tasks kept for a page that opens later (the task stream's last minute or so). */
const RECENT_TASKS = 10_000;
const RECENT_MS = 120_000;
/** At most this many task records in one update (a burst beyond it is thinned to the newest). */
const MAX_TASKS_PER_UPDATE = 5_000;
/** A page that stops reading is dropped past this much unsent data (its EventSource reconnects). */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** How often an open page gets fresh heartbeat data even when no task finishes (ms). */
const REFRESH_MS = 1_000;

/** The page's files (from dist/scheduler/ and src/scheduler/ alike: both are two levels below the package). */
const ASSETS = new URL('../../assets/dashboard/', import.meta.url);
let assets: Promise<{ html: string; js: string; css: string }> | undefined;

function loadAssets(): Promise<{ html: string; js: string; css: string }> {
  assets ??= Promise.all(['index.html', 'dashboard.js', 'dashboard.css'].map((name) => fs.readFile(new URL(name, ASSETS), 'utf8'))).then(([html, js, css]) => ({
    html: html!,
    js: js!,
    css: css!,
  }));
  assets.catch(() => {
    assets = undefined;
  });
  return assets;
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/** One finished task as the page gets it: key, worker, 'memory' | 'erred', start and stop (epoch ms, the scheduler's clock), bytes. */
export interface StreamTask {
  key: string;
  worker: string;
  status: 'memory' | 'erred';
  start: number;
  stop: number;
  nbytes: number;
}

export interface DashboardSnapshot {
  now: number;
  scheduler: { address: string; startedAt: number; clients: number; finished: number; erred: number };
  counts: Record<string, number>;
  workers: {
    address: string;
    name: string;
    status: string;
    nthreads: number;
    memoryLimit: number;
    processing: number;
    stored: number;
    nbytes: number;
    memory: number | null;
    spilled: number | null;
    rss: number | null;
    cpu: number | null;
    executing: number | null;
    ready: number | null;
    inFlight: number | null;
    paused: boolean;
  }[];
  /** Per key prefix: done (finished since the dashboard started), erred (failed tasks held now), the rest held now. */
  prefixes: {
    prefix: string;
    done: number;
    erred: number;
    processing: number;
    waiting: number;
    memory: number;
    total: number;
    meanMs: number | null;
    firstSeen: number;
  }[];
  bytesMoved: number;
  tasks: StreamTask[];
  /** Task records left out of `tasks` because of a burst. */
  dropped: number;
}

export class Dashboard {
  readonly #scheduler: Scheduler;
  readonly #server: http.Server;
  readonly #host: string;
  readonly #intervalMs: number;
  readonly #stats = new TaskStats();
  readonly #startedAt = Date.now();
  readonly #recent: StreamTask[] = [];
  /** Index in #recent of the first task not yet sent to the open pages. */
  #unsent = 0;
  readonly #pages = new Set<http.ServerResponse>();
  #clients = 0;
  #timer: NodeJS.Timeout | undefined;
  #refresh: NodeJS.Timeout | undefined;
  #lastFlush = 0;
  /** Grows when a snapshot is costly (large graphs), so that updates take at most a tenth of the time. */
  #minGapMs: number;
  #url = '';
  #closing: Promise<void> | undefined;
  readonly #listeners: [string, (...args: any[]) => void][];
  #page = { html: '', js: '', css: '' };

  /** Starts listening; the dashboard counts the scheduler's tasks from now on. */
  static async start(scheduler: Scheduler, opts: DashboardOptions = {}): Promise<Dashboard> {
    if (typeof opts !== 'object' || opts === null) throw invalidArgType('opts.dashboard', 'of type object or boolean', opts);
    const dashboard = new Dashboard(scheduler, opts);
    try {
      dashboard.#page = await loadAssets();
      await dashboard.#listen(opts.port);
    } catch (error) {
      await dashboard.close();
      throw error;
    }
    return dashboard;
  }

  private constructor(scheduler: Scheduler, opts: DashboardOptions) {
    if (opts.host !== undefined && (typeof opts.host !== 'string' || opts.host === ''))
      throw invalidArgType('opts.dashboard.host', 'a non-empty string', opts.host);
    if (opts.port !== undefined) validatePort(opts.port, 'opts.dashboard.port');
    validateInteger(opts.intervalMs ?? 100, 'opts.dashboard.intervalMs', 1, 60_000);
    this.#scheduler = scheduler;
    this.#host = opts.host ?? '127.0.0.1';
    this.#intervalMs = opts.intervalMs ?? 100;
    this.#minGapMs = this.#intervalMs;
    this.#server = http.createServer((req, res) => this.#serve(req, res));
    // Keep-alive sockets of closed pages must not hold the process (or close()) open.
    this.#server.keepAliveTimeout = 1_000;
    const onTask = (record: TaskRecord): void => this.#onTask(record);
    const onChange = (): void => this.#changed();
    const onClientAdded = (): void => {
      this.#clients++;
      this.#changed();
    };
    const onClientRemoved = (): void => {
      this.#clients = Math.max(0, this.#clients - 1);
      this.#changed();
    };
    this.#listeners = [
      ['task', onTask],
      ['worker-added', onChange],
      ['worker-removed', onChange],
      ['client-added', onClientAdded],
      ['client-removed', onClientRemoved],
    ];
    for (const [event, listener] of this.#listeners) scheduler.on(event, listener);
  }

  /** 'http://127.0.0.1:8787/' */
  get address(): string {
    return this.#url;
  }

  /** The counters behind /metrics. */
  get stats(): TaskStats {
    return this.#stats;
  }

  /** Stops listening and ends open pages. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const [event, listener] of this.#listeners) this.#scheduler.off(event, listener);
      clearTimeout(this.#timer);
      clearInterval(this.#refresh);
      for (const page of this.#pages) page.end();
      this.#pages.clear();
      if (!this.#server.listening) return;
      await new Promise<void>((resolve) => {
        this.#server.close(() => resolve());
        this.#server.closeAllConnections();
      });
    })();
    return this.#closing;
  }

  async #listen(port: number | undefined): Promise<void> {
    try {
      await this.#bind(port ?? DEFAULT_DASHBOARD_PORT);
    } catch (error) {
      // The default port taken (another scheduler, a Dask dashboard): any free one, as Dask does.
      if (port !== undefined || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
      await this.#bind(0);
      process.emitWarning(`the dashboard's port ${DEFAULT_DASHBOARD_PORT} is taken; it listens on port ${(this.#server.address() as AddressInfo).port}`, {
        code: 'NODE_UCX_DASHBOARD_PORT',
      });
    }
    const { port: bound } = this.#server.address() as AddressInfo;
    const host = this.#host.includes(':') ? `[${this.#host}]` : this.#host;
    this.#url = `http://${host}:${bound}/`;
  }

  #bind(port: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.#server.once('error', onError);
      this.#server.listen(port, this.#host, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
  }

  // ---- HTTP ----

  #serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cache-Control', 'no-store');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      // Read-only: nothing here takes a request body, and nothing changes the cluster.
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('the dashboard is read-only\n');
      return;
    }
    if (!this.#hostAllowed(req.headers.host)) {
      res.writeHead(403, { 'Content-Type': 'text/plain; charset=utf-8' }).end('this dashboard answers to localhost names only\n');
      return;
    }
    const path = (req.url ?? '/').split('?', 1)[0];
    switch (path) {
      case '/':
      case '/status':
        return this.#send(req, res, 'text/html; charset=utf-8', this.#page.html, {
          'Content-Security-Policy':
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        });
      case '/dashboard.js':
        return this.#send(req, res, 'text/javascript; charset=utf-8', this.#page.js);
      case '/dashboard.css':
        return this.#send(req, res, 'text/css; charset=utf-8', this.#page.css);
      case '/events':
        return this.#openStream(req, res);
      case '/api/state':
        return this.#send(req, res, 'application/json', JSON.stringify(this.snapshot(this.#recent)));
      case '/metrics':
        return this.#send(req, res, PROMETHEUS_CONTENT_TYPE, prometheusText(this.#scheduler, this.#stats, this.#clients));
      case '/health':
        return this.#send(req, res, 'text/plain; charset=utf-8', 'ok\n');
      default:
        res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
    }
  }

  /**
   * Bound to a loopback address, the server answers only requests that name a loopback host: a web
   * page elsewhere cannot reach it through a DNS name that it points at 127.0.0.1 (DNS rebinding).
   */
  #hostAllowed(header: string | undefined): boolean {
    if (!isLoopback(this.#host)) return true;
    if (header === undefined) return false;
    const name = header.startsWith('[') ? header.slice(0, header.indexOf(']') + 1) : header.split(':', 1)[0]!;
    return LOOPBACK_NAMES.has(name.toLowerCase()) || name === this.#host;
  }

  #send(req: http.IncomingMessage, res: http.ServerResponse, type: string, body: string, headers: Record<string, string> = {}): void {
    res.writeHead(200, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), ...headers });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  #openStream(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive' });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    res.socket?.setNoDelay(true);
    // The task stream's recent past, then the updates of all pages.
    res.write(`retry: 1000\n\n${message(this.snapshot(this.#recent))}`);
    this.#pages.add(res);
    res.on('close', () => {
      this.#pages.delete(res);
      if (this.#pages.size === 0) {
        clearInterval(this.#refresh);
        this.#refresh = undefined;
      }
    });
    if (this.#refresh === undefined) {
      this.#refresh = setInterval(() => this.#changed(), REFRESH_MS);
      this.#refresh.unref();
    }
  }

  // ---- updates ----

  #onTask(record: TaskRecord): void {
    this.#stats.record(record);
    this.#recent.push({
      key: record.key,
      worker: record.worker,
      status: record.status,
      start: record.at - record.duration,
      stop: record.at,
      nbytes: record.nbytes,
    });
    if (this.#recent.length > 2 * RECENT_TASKS) this.#trim();
    this.#changed();
  }

  #trim(): void {
    const cutoff = Date.now() - RECENT_MS;
    let drop = Math.max(0, this.#recent.length - RECENT_TASKS);
    while (drop < this.#recent.length && this.#recent[drop]!.stop < cutoff) drop++;
    this.#recent.splice(0, drop);
    this.#unsent = Math.max(0, this.#unsent - drop);
  }

  /** Something changed: the open pages hear of it with the next update (at most one per #minGapMs). */
  #changed(): void {
    if (this.#pages.size === 0) {
      this.#unsent = this.#recent.length;
      return;
    }
    if (this.#timer !== undefined) return;
    const wait = Math.max(0, this.#lastFlush + this.#minGapMs - performance.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#flush();
    }, wait);
  }

  #flush(): void {
    const started = performance.now();
    const fresh = this.#recent.slice(this.#unsent);
    this.#unsent = this.#recent.length;
    const text = message(this.snapshot(fresh));
    for (const page of this.#pages) {
      if (page.writableLength > MAX_BUFFERED_BYTES) {
        page.destroy(); // a page that does not read; it reconnects and starts afresh
        continue;
      }
      page.write(text);
    }
    this.#lastFlush = performance.now();
    this.#minGapMs = Math.max(this.#intervalMs, 10 * (this.#lastFlush - started));
  }

  /** What the page shows, with `tasks` as the task stream's new entries. */
  snapshot(tasks: StreamTask[]): DashboardSnapshot {
    const { state } = this.#scheduler;
    const counts: Record<string, number> = {};
    for (const [status, count] of Object.entries(state.counts)) if (status !== 'forgotten') counts[status] = count;
    const workers: DashboardSnapshot['workers'] = [];
    for (const ws of state.workers.values()) {
      const m = ws.metrics;
      workers.push({
        address: ws.address,
        name: ws.name,
        status: ws.status,
        nthreads: ws.nthreads,
        memoryLimit: ws.memoryLimit,
        processing: ws.processing.size,
        stored: ws.hasWhat.size,
        nbytes: ws.nbytes,
        memory: m?.memory ?? null,
        spilled: m?.spilled ?? null,
        rss: m?.rss ?? null,
        cpu: m?.cpu ?? null,
        executing: m?.executing ?? null,
        ready: m?.ready ?? null,
        inFlight: m?.inFlight ?? null,
        paused: m?.paused === true || ws.status === 'paused',
      });
    }
    // Tasks held now, by prefix (one pass over the tasks: this is what #minGapMs keeps in check).
    const live = new Map<string, { processing: number; waiting: number; memory: number; erred: number }>();
    for (const ts of state.tasks.values()) {
      if (ts.status === 'forgotten' || ts.status === 'released') continue;
      let entry = live.get(ts.prefix);
      if (entry === undefined) {
        entry = { processing: 0, waiting: 0, memory: 0, erred: 0 };
        live.set(ts.prefix, entry);
      }
      if (ts.status === 'processing') entry.processing++;
      else if (ts.status === 'memory') entry.memory++;
      else if (ts.status === 'erred') entry.erred++;
      else entry.waiting++;
    }
    const now = Date.now();
    const prefixes: DashboardSnapshot['prefixes'] = [];
    const seen = new Set<string>();
    for (const [prefix, entry] of live) {
      seen.add(prefix);
      // Seen here first (submitted, not finished yet): the stats begin now, so the page's order (and colours) hold.
      const stats = this.#stats.prefix(prefix, now);
      if (entry.processing > 0) stats.lastActive = now;
      const done = Math.max(stats.finished, entry.memory);
      prefixes.push({
        prefix,
        done,
        erred: entry.erred,
        processing: entry.processing,
        waiting: entry.waiting,
        memory: entry.memory,
        total: done + entry.erred + entry.processing + entry.waiting,
        meanMs: state.durations.get(prefix) ?? null,
        firstSeen: stats.firstSeen,
      });
    }
    // Prefixes whose tasks are all done and released stay a while (their bars full).
    for (const stats of this.#stats.prefixes.values()) {
      if (seen.has(stats.prefix) || stats.finished === 0 || now - stats.lastActive > 10 * 60_000) continue;
      prefixes.push({
        prefix: stats.prefix,
        done: stats.finished,
        erred: 0,
        processing: 0,
        waiting: 0,
        memory: 0,
        total: stats.finished,
        meanMs: state.durations.get(stats.prefix) ?? null,
        firstSeen: stats.firstSeen,
      });
    }
    prefixes.sort((a, b) => a.firstSeen - b.firstSeen || (a.prefix < b.prefix ? -1 : 1));
    const dropped = Math.max(0, tasks.length - MAX_TASKS_PER_UPDATE);
    return {
      now,
      scheduler: {
        address: this.#scheduler.address,
        startedAt: this.#startedAt,
        clients: this.#clients,
        finished: this.#stats.finished,
        erred: this.#stats.erred,
      },
      counts,
      workers,
      prefixes: prefixes.slice(-100),
      bytesMoved: this.#scheduler.bytesMoved,
      tasks: dropped > 0 ? tasks.slice(dropped) : tasks,
      dropped,
    };
  }
}

function message(snapshot: DashboardSnapshot): string {
  return `data: ${JSON.stringify(snapshot)}\n\n`;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
