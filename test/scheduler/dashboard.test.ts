// The dashboard's HTTP server without a browser: where it listens, what it serves (and refuses),
// the event stream (batched, throttled), and how it starts and stops with the scheduler.
// test/scheduler/dashboard-browser.test.ts opens the page in Chromium.
import { describe, it, expect, afterEach } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import { Scheduler, LocalCluster, Client } from 'node-ucx/scheduler';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) await thing.close();
});

function request(
  url: string,
  opts: { method?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    // A fresh connection each time (no keep-alive pool): what a request meets is what the server does now.
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      let body = '';
      res
        .setEncoding('utf8')
        .on('data', (chunk: string) => {
          body += chunk;
        })
        .on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Reads the SSE stream at `url`: each message's parsed data, as it comes. */
function follow(url: string): {
  messages: { at: number; data: any }[];
  close(): Promise<void>;
  next(pred?: (data: any) => boolean, ms?: number): Promise<any>;
} {
  const messages: { at: number; data: any }[] = [];
  const waiters: (() => void)[] = [];
  let buffer = '';
  let res: http.IncomingMessage | undefined;
  const req = http.get(url, { agent: false }, (r) => {
    res = r;
    r.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block
          .split('\n')
          .filter((l) => l.startsWith('data: '))
          .map((l) => l.slice(6))
          .join('\n');
        if (data !== '') messages.push({ at: performance.now(), data: JSON.parse(data) });
        for (const wake of waiters.splice(0)) wake();
      }
    });
  });
  req.on('error', () => {});
  return {
    messages,
    async close() {
      req.destroy();
      res?.destroy();
    },
    async next(pred = () => true, ms = 10_000) {
      const deadline = Date.now() + ms;
      let seen = 0;
      for (;;) {
        for (; seen < messages.length; seen++) if (pred(messages[seen]!.data)) return messages[seen]!.data;
        if (Date.now() > deadline) throw new Error(`no matching event-stream message within ${ms} ms (${messages.length} seen)`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100);
        });
      }
    },
  };
}

describe('dashboard server', () => {
  it('listens on 127.0.0.1 by default and serves the page, its script and style, a snapshot and /health', async () => {
    const scheduler = await Scheduler.start({ address: 'inproc://dash-a:0', dashboard: { port: 0 } });
    open.push(scheduler);
    const link = scheduler.dashboardAddress!;
    expect(link).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await request(link);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.body).toContain('<script src="dashboard.js"');
    expect(page.body).not.toMatch(/https?:\/\//); // nothing from elsewhere (the machine may be offline)
    const js = await request(new URL('dashboard.js', link).href);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.body).toContain("new EventSource('events')");
    expect(js.body).not.toContain('innerHTML'); // key names and addresses only ever as text
    expect((await request(new URL('dashboard.css', link).href)).headers['content-type']).toBe('text/css; charset=utf-8');
    expect((await request(new URL('status', link).href)).body).toBe(page.body);
    expect((await request(new URL('health', link).href)).body).toBe('ok\n');
    const state = JSON.parse((await request(new URL('api/state', link).href)).body);
    expect(state.scheduler.address).toBe(scheduler.address);
    expect(state.workers).toEqual([]);
    expect(state.counts.memory).toBe(0);
    const head = await request(link, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
  });

  it('is read-only: any method but GET and HEAD is refused, and unknown paths are 404', async () => {
    const scheduler = await Scheduler.start({ address: 'inproc://dash-b:0', dashboard: { port: 0 } });
    open.push(scheduler);
    const link = scheduler.dashboardAddress!;
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      for (const path of ['', 'metrics', 'events', 'api/state']) {
        const response = await request(new URL(path, link).href, { method });
        expect(response.status, `${method} /${path}`).toBe(405);
        expect(response.headers.allow).toBe('GET, HEAD');
      }
    }
    expect((await request(new URL('submit', link).href)).status).toBe(404);
    expect((await request(new URL('../../etc/passwd', link).href)).status).toBe(404);
  });

  it('answers only to loopback host names while bound to loopback (DNS rebinding)', async () => {
    const scheduler = await Scheduler.start({ address: 'inproc://dash-c:0', dashboard: { port: 0 } });
    open.push(scheduler);
    const link = scheduler.dashboardAddress!;
    const port = new URL(link).port;
    expect((await request(link, { headers: { Host: `evil.example:${port}` } })).status).toBe(403);
    expect((await request(new URL('metrics', link).href, { headers: { Host: 'evil.example' } })).status).toBe(403);
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'LOCALHOST']) {
      expect((await request(link, { headers: { Host: host } })).status, host).toBe(200);
    }
  });

  it('takes another port when 8787 is taken and none was asked for, with a warning; fails on a port asked for', async () => {
    // Hold 8787 (unless something else already does).
    const blocker = net.createServer();
    await new Promise<void>((resolve) => {
      blocker.once('error', () => resolve());
      blocker.listen(8787, '127.0.0.1', () => resolve());
    });
    open.push({ close: () => new Promise<void>((resolve) => (blocker.listening ? blocker.close(() => resolve()) : resolve())) });
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on('warning', onWarning);
    try {
      const scheduler = await Scheduler.start({ address: 'inproc://dash-d:0', dashboard: true });
      open.push(scheduler);
      expect(scheduler.dashboardAddress).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect(new URL(scheduler.dashboardAddress!).port).not.toBe('8787');
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.some((w) => (w as NodeJS.ErrnoException).code === 'NODE_UCX_DASHBOARD_PORT')).toBe(true);
      const taken = Number(new URL(scheduler.dashboardAddress!).port);
      await expect(Scheduler.start({ address: 'inproc://dash-e:0', dashboard: { port: taken } })).rejects.toMatchObject({ code: 'EADDRINUSE' });
      // The failed scheduler let go of its address.
      const again = await Scheduler.start({ address: 'inproc://dash-e:0' });
      open.push(again);
      expect(again.dashboardAddress).toBeNull();
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('checks its options', async () => {
    await expect(Scheduler.start({ address: 'inproc://dash-f:0', dashboard: { port: -1 } })).rejects.toThrow(/port/);
    await expect(Scheduler.start({ address: 'inproc://dash-f:0', dashboard: { host: '' } })).rejects.toThrow(/host/);
    await expect(Scheduler.start({ address: 'inproc://dash-f:0', dashboard: { intervalMs: 0 } })).rejects.toThrow(/intervalMs/);
  });

  it('stops with the scheduler: the port is closed and open event streams end', async () => {
    const scheduler = await Scheduler.start({ address: 'inproc://dash-g:0', dashboard: { port: 0 } });
    const link = scheduler.dashboardAddress!;
    const ended = new Promise<void>((resolve) => {
      http.get(new URL('events', link), { agent: false }, (res) => res.on('end', resolve).resume());
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await scheduler.close();
    await ended;
    await expect(request(link)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('dashboard event stream', () => {
  it('sends the state at once, then every finished task, batched and throttled', async () => {
    const cluster = new LocalCluster({ workers: 2, protocol: 'inproc', dashboard: { port: 0, intervalMs: 100 }, worker: { heartbeatMs: 1000 } });
    open.push(cluster);
    await cluster.ready;
    expect(cluster.dashboardLink).toBe(cluster.scheduler.dashboardAddress);
    const client = new Client(cluster);
    open.push(client);
    await client.ready;
    const stream = follow(new URL('events', cluster.dashboardLink!).href);
    open.push(stream);
    const first = await stream.next();
    expect(first.workers).toHaveLength(2);
    expect(first.scheduler.clients).toBe(1);
    expect(first.tasks).toEqual([]);

    const inc = (x: number): number => x + 1;
    const started = performance.now();
    const futures = client.map(
      inc,
      Array.from({ length: 300 }, (_, i) => i),
    );
    await client.gather(futures);
    const last = await stream.next((d) => d.counts.memory === 300 && d.scheduler.finished === 300);
    const elapsed = performance.now() - started;
    const during = stream.messages.slice(1).filter((m) => m.at >= started);
    const tasks = during.flatMap((m) => m.data.tasks);
    // Every task once, with its worker and times (start <= stop, on the scheduler's clock).
    expect(new Set(tasks.map((t: any) => t.key)).size).toBe(300);
    expect(tasks).toHaveLength(300);
    for (const t of tasks) {
      expect(cluster.workers).toContain(t.worker);
      expect(t.status).toBe('memory');
      expect(t.start).toBeLessThanOrEqual(t.stop);
    }
    // Batched: far fewer messages than tasks; throttled: at most one per 100 ms (and one to spare).
    expect(during.length).toBeLessThan(300 / 5);
    expect(during.length).toBeLessThanOrEqual(Math.ceil(elapsed / 100) + 2);
    const inc0 = last.prefixes.find((p: any) => p.prefix === 'inc');
    expect(inc0).toMatchObject({ done: 300, total: 300, erred: 0, processing: 0, waiting: 0, memory: 300 });
  });

  it('gives a page that opens later the recent task stream, and counts errors', async () => {
    const cluster = new LocalCluster({ workers: 1, protocol: 'inproc', dashboard: { port: 0 } });
    open.push(cluster);
    const client = new Client(cluster);
    open.push(client);
    const fail = (): never => {
      throw new Error('no');
    };
    const square = (x: number): number => x * x;
    await client.gather(client.map(square, [1, 2, 3]));
    const failed = client.submit(fail);
    await failed.exception();
    const stream = follow(new URL('events', cluster.dashboardLink!).href);
    open.push(stream);
    const first = await stream.next();
    expect(first.tasks.map((t: any) => t.status).sort()).toEqual(['erred', 'memory', 'memory', 'memory']);
    expect(first.scheduler).toMatchObject({ finished: 3, erred: 1 });
    expect(first.counts).toMatchObject({ memory: 3, erred: 1 });
    expect(first.prefixes.map((p: any) => [p.prefix, p.done, p.erred, p.total])).toEqual([
      ['square', 3, 0, 3],
      ['fail', 0, 1, 1],
    ]);
  });

  it('LocalCluster without the option has no dashboard', async () => {
    const cluster = new LocalCluster({ workers: 0, protocol: 'inproc' });
    open.push(cluster);
    await cluster.ready;
    expect(cluster.dashboardLink).toBeNull();
  });
});
