#!/usr/bin/env node
// Soak: two real processes, N endpoints between them (default 16), every API at once for a while,
// every message numbered and checksummed and echoed back by the other process:
//   endpoint messages (send/recvMessage), raw tags (tagSend/tagRecvMessage), streams
//   (streamSend/streamRecv), active messages (amSend, answered on the reply endpoint), RMA
//   (put, flush, get back and compare; --no-rma leaves it out) and the ucx:// transport (one
//   Connection per endpoint: send/recv).
// Sizes are mostly small, some medium, a few up to 1 MiB (rendezvous). Each (endpoint, API) pair
// keeps one exchange in flight; one that gets no echo within --op-timeout-ms is lost (and stops).
// Every --report-seconds it prints messages, loss, duplicates, corruption, and both processes' RSS
// and open fds; at the end a summary (--json: as one JSON line) and exit 0 when nothing was lost,
// duplicated or corrupted and RSS / fds grew within bounds after the warm-up, 1 otherwise.
//
//   npm run soak                                  10 minutes
//   node scripts/soak.mjs --seconds 60 --json     what test/soak/soak.test.ts runs
//
// Options: --seconds S (600) --endpoints N (16) --report-seconds S (10, or S/6 for short runs)
//   --op-timeout-ms MS (30000) --error-handling peer|none (peer) --no-rma --json
//   --max-rss-growth-mib M (64) --max-fd-growth F (8)
import { fork } from 'node:child_process';
import fs from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { Context, DEFAULT_FEATURES } = await import(path.join(root, 'dist', 'index.js'));
const { ucxTransport } = await import(path.join(root, 'dist', 'transport', 'index.js'));

// ---- options ----
const argv = process.argv.slice(2);
function option(name, fallback) {
  const index = argv.indexOf(`--${name}`);
  if (index < 0) return fallback;
  const value = argv[index + 1];
  if (value === undefined) throw new Error(`--${name} needs a value`);
  return value;
}
const flag = (name) => argv.includes(`--${name}`);
const isPeer = flag('peer');
const seconds = Number(option('seconds', '600'));
const endpoints = Number(option('endpoints', '16'));
const reportSeconds = Number(option('report-seconds', String(Math.min(10, Math.max(1, Math.round(seconds / 6))))));
const opTimeoutMs = Number(option('op-timeout-ms', '30000'));
const errorHandling = option('error-handling', 'peer');
const rma = !flag('no-rma');
const json = flag('json');
const maxRssGrowthMiB = Number(option('max-rss-growth-mib', '64'));
const maxFdGrowth = Number(option('max-fd-growth', '8'));
for (const [name, value] of Object.entries({ seconds, endpoints, reportSeconds, opTimeoutMs, maxRssGrowthMiB, maxFdGrowth })) {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`--${name}: a positive number, not ${value}`);
}

const APIS = ['message', 'tag', 'stream', 'am', ...(rma ? ['rma'] : []), 'transport'];
const HEADER = 16; // u32 endpoint, u32 seq, u32 body length, u32 crc32(body)
const AM_REQUEST = 10;
const AM_ECHO = 11;
const TAG_BASE = 0x50a0_0000n; // raw tags: request = base + 2i, echo = base + 2i + 1
const RMA_REGION = 256 << 10;

const features = rma ? [...DEFAULT_FEATURES, 'rma'] : [...DEFAULT_FEATURES];
const context = new Context({ features });
const worker = context.createWorker({ errorHandling });
const transport = ucxTransport({ worker });

const counts = () => Object.fromEntries(APIS.map((api) => [api, 0]));
const stats = { messages: counts(), bytes: 0, loss: counts(), duplicates: counts(), corruption: counts(), errors: [] };

function sample() {
  return { rss: process.memoryUsage().rss, fds: fs.readdirSync('/proc/self/fd').length };
}

function pickSize() {
  const r = Math.random();
  if (r < 0.6) return Math.floor(Math.random() * 257);
  if (r < 0.9) return 256 + Math.floor(Math.random() * (8192 - 256));
  if (r < 0.98) return 8192 + Math.floor(Math.random() * (128 << 10));
  return (128 << 10) + Math.floor(Math.random() * ((1 << 20) - (128 << 10)));
}

function build(index, seq, size) {
  const message = Buffer.allocUnsafe(HEADER + size);
  const body = message.subarray(HEADER);
  randomFillSync(body);
  message.writeUInt32LE(index, 0);
  message.writeUInt32LE(seq, 4);
  message.writeUInt32LE(size, 8);
  message.writeUInt32LE(crc32(body), 12);
  return message;
}

/** 'ok', 'corrupt', or for a message of another seq 'duplicate' (an earlier one) / 'corrupt'. */
function verify(header, body, index, seq) {
  if (header.length < HEADER) return 'corrupt';
  if (header.readUInt32LE(0) !== index) return 'corrupt';
  const got = header.readUInt32LE(4);
  if (header.readUInt32LE(8) !== body.length || crc32(body) !== header.readUInt32LE(12)) return 'corrupt';
  if (got === seq) return 'ok';
  return got < seq ? 'duplicate' : 'corrupt';
}

function count(api, verdict, detail) {
  if (verdict === 'ok') return true;
  if (verdict === 'duplicate') stats.duplicates[api]++;
  else stats.corruption[api]++;
  if (stats.errors.length < 20) stats.errors.push(`${api}: ${verdict} ${detail}`);
  return false;
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error(`no ${what} within ${ms} ms`), { lost: true })), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function readExactly(ep, length) {
  const into = Buffer.allocUnsafe(length);
  if (length > 0) await ep.streamRecv(into, { waitAll: true });
  return into;
}

// =====================================================================================
// The peer: listens, echoes everything back, reports samples and its own checks over IPC.
// =====================================================================================
if (isPeer) {
  const expected = new Map(); // `${api}:${index}` -> next seq
  const check = (api, header, body) => {
    const index = header.length >= 4 ? header.readUInt32LE(0) : -1;
    const key = `${api}:${index}`;
    const seq = expected.get(key) ?? 0;
    const ok = count(api, verify(header, body, index, seq), `at the peer, endpoint ${index} seq ${seq}`);
    if (ok) {
      expected.set(key, seq + 1);
      stats.messages[api]++;
    }
    return ok;
  };
  const regions = [];
  const keep = (promise) =>
    promise.catch((error) => {
      if (!stopping && stats.errors.length < 20) stats.errors.push(`peer: ${error.message}`);
    });
  let stopping = false;

  worker.onActiveMessage(AM_REQUEST, (message) => {
    if (message.header.length < HEADER) {
      count('am', 'corrupt', 'short header');
      return;
    }
    check('am', message.header, message.data);
    keep(message.reply.amSend(AM_ECHO, Buffer.from(message.header), message.data));
  });

  let accepted = 0;
  const listener = await worker.listen({ host: '127.0.0.1', port: 0 }, (ep) => {
    ep.on('error', () => {});
    const index = accepted++;
    const region = rma ? context.memMap({ length: RMA_REGION }) : null;
    if (region) regions.push(region);
    keep(
      (async () => {
        if (region) await ep.sendObject({ address: region.address, rkey: region.packRkey() });
        for (;;) {
          const message = await ep.recvMessage();
          check('message', message.subarray(0, HEADER), message.subarray(HEADER));
          await ep.send(message);
        }
      })(),
    );
    keep(
      (async () => {
        for (;;) {
          const { data } = await worker.tagRecvMessage(TAG_BASE + 2n * BigInt(index));
          check('tag', data.subarray(0, HEADER), data.subarray(HEADER));
          await ep.tagSend(data, TAG_BASE + 2n * BigInt(index) + 1n);
        }
      })(),
    );
    keep(
      (async () => {
        for (;;) {
          const header = await readExactly(ep, HEADER);
          const body = await readExactly(ep, header.readUInt32LE(8));
          check('stream', header, body);
          await ep.streamSend(Buffer.concat([header, body]));
        }
      })(),
    );
  });
  const transportListener = await transport.listen('ucx://127.0.0.1:0', (conn) => {
    keep(
      (async () => {
        for (;;) {
          const frames = await conn.recv();
          check('transport', frames[0] ?? Buffer.alloc(0), frames[1] ?? Buffer.alloc(0));
          await conn.send(frames);
        }
      })(),
    );
  });
  process.on('message', async (m) => {
    if (m.type === 'sample') process.send({ type: 'sample', ...sample(), stats });
    if (m.type === 'stop') {
      stopping = true;
      process.send({ type: 'stopped', ...sample(), stats });
    }
    if (m.type === 'exit') {
      await transportListener.close().catch(() => {});
      await listener.close().catch(() => {});
      await worker.close().catch(() => {});
      for (const region of regions) region.unmap?.();
      context.close();
      process.exit(0);
    }
  });
  process.send({ type: 'ready', port: listener.port, transportPort: transportListener.port });
} else {
  await drive();
}

// =====================================================================================
// The driver: connects, runs every (endpoint, API) loop, samples, summarises.
// =====================================================================================
async function drive() {
  const child = fork(fileURLToPath(import.meta.url), ['--peer', ...argv], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const replies = [];
  const waiting = [];
  child.on('message', (m) => {
    const at = waiting.findIndex((w) => w.type === m.type);
    if (at >= 0) waiting.splice(at, 1)[0].resolve(m);
    else replies.push(m);
  });
  const next = (type, ms = 30_000) => {
    const at = replies.findIndex((m) => m.type === type);
    if (at >= 0) return Promise.resolve(replies.splice(at, 1)[0]);
    return withTimeout(new Promise((resolve) => waiting.push({ type, resolve })), ms, `'${type}' from the peer`);
  };
  const childExit = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  const { port, transportPort } = await next('ready');
  const eps = [];
  const conns = [];
  const rkeys = [];
  for (let i = 0; i < endpoints; i++) {
    const ep = await worker.connect({ host: '127.0.0.1', port });
    ep.on('error', () => {});
    eps.push(ep);
    if (rma) {
      const { address, rkey } = await withTimeout(ep.recvObject(), 10_000, 'the remote key');
      rkeys.push({ address, rkey: ep.unpackRkey(rkey) });
    }
    conns.push(await transport.connect(`ucx://127.0.0.1:${transportPort}`));
  }

  // AM echoes come to one handler: each endpoint has at most one outstanding.
  const amWaiters = new Map(); // index -> { seq, resolve }
  worker.onActiveMessage(AM_ECHO, (message) => {
    const index = message.header.length >= 4 ? message.header.readUInt32LE(0) : -1;
    const waiter = amWaiters.get(index);
    if (waiter === undefined) {
      count('am', 'duplicate', `endpoint ${index}: an echo nobody waits for`);
      return;
    }
    if (verify(message.header, message.data, index, waiter.seq) !== 'ok') {
      count('am', verify(message.header, message.data, index, waiter.seq), `endpoint ${index} seq ${waiter.seq}`);
      return;
    }
    amWaiters.delete(index);
    waiter.resolve();
  });

  const exchange = {
    async message(i, msg) {
      const back = eps[i].recvMessage();
      await eps[i].send(msg);
      const echo = await back;
      return [echo.subarray(0, HEADER), echo.subarray(HEADER)];
    },
    async tag(i, msg) {
      const back = worker.tagRecvMessage(TAG_BASE + 2n * BigInt(i) + 1n);
      await eps[i].tagSend(msg, TAG_BASE + 2n * BigInt(i));
      const { data } = await back;
      return [data.subarray(0, HEADER), data.subarray(HEADER)];
    },
    async stream(i, msg) {
      const header = readExactly(eps[i], HEADER);
      await eps[i].streamSend(msg);
      const h = await header;
      return [h, await readExactly(eps[i], h.readUInt32LE(8))];
    },
    async am(i, msg, seq) {
      const echoed = new Promise((resolve) => amWaiters.set(i, { seq, resolve }));
      await eps[i].amSend(AM_REQUEST, msg.subarray(0, HEADER), msg.subarray(HEADER), { reply: true });
      await echoed;
      return null; // checked by the handler
    },
    async rma(i, msg) {
      const { address, rkey } = rkeys[i];
      const length = Math.min(msg.length, RMA_REGION);
      const offset = Math.floor(Math.random() * (RMA_REGION - length + 1));
      await eps[i].put(msg.subarray(0, length), address + BigInt(offset), rkey);
      await eps[i].flush();
      const back = Buffer.allocUnsafe(length);
      await eps[i].get(back, address + BigInt(offset), rkey);
      return back.equals(msg.subarray(0, length)) ? null : 'corrupt';
    },
    async transport(i, msg) {
      const back = conns[i].recv();
      await conns[i].send([msg.subarray(0, HEADER), msg.subarray(HEADER)]);
      const frames = await back;
      return [frames[0] ?? Buffer.alloc(0), frames[1] ?? Buffer.alloc(0)];
    },
  };

  let stopping = false;
  const loops = [];
  for (let i = 0; i < endpoints; i++) {
    for (const api of APIS) {
      loops.push(
        (async () => {
          for (let seq = 0; !stopping; seq++) {
            const size = api === 'rma' ? Math.min(pickSize(), 64 << 10) : pickSize();
            const msg = build(i, seq, size);
            let result;
            try {
              result = await withTimeout(exchange[api](i, msg, seq), opTimeoutMs, `${api} echo on endpoint ${i}`);
            } catch (error) {
              // No echo in time, or the exchange failed: that message is lost, and this loop ends.
              stats.loss[api]++;
              if (stats.errors.length < 20) stats.errors.push(`${api} endpoint ${i} seq ${seq}: ${error.code ?? ''} ${error.message}`);
              return;
            }
            if (result === 'corrupt') {
              count(api, 'corrupt', `endpoint ${i} seq ${seq}: read back differs`);
              return;
            }
            if (Array.isArray(result) && !count(api, verify(result[0], result[1], i, seq), `endpoint ${i} seq ${seq}`)) return;
            stats.messages[api]++;
            stats.bytes += size;
          }
        })(),
      );
    }
  }

  const started = Date.now();
  const samples = [];
  const takeSample = async () => {
    child.send({ type: 'sample' });
    const peer = await next('sample');
    const own = sample();
    const s = {
      t: Math.round((Date.now() - started) / 1000),
      messages: Object.values(stats.messages).reduce((a, b) => a + b, 0),
      loss: sum(stats.loss),
      duplicates: sum(stats.duplicates) + sum(peer.stats.duplicates),
      corruption: sum(stats.corruption) + sum(peer.stats.corruption),
      rss: own.rss,
      fds: own.fds,
      peerRss: peer.rss,
      peerFds: peer.fds,
    };
    samples.push(s);
    if (!json) {
      console.log(
        `t=${String(s.t).padStart(4)}s messages ${s.messages} (${APIS.map((api) => `${api} ${stats.messages[api]}`).join(', ')}) ` +
          `loss ${s.loss} dup ${s.duplicates} corrupt ${s.corruption} | rss ${mib(s.rss)} / peer ${mib(s.peerRss)} MiB, fds ${s.fds} / peer ${s.peerFds}`,
      );
    } else {
      process.stderr.write(
        `soak t=${s.t}s messages ${s.messages} loss ${s.loss} dup ${s.duplicates} corrupt ${s.corruption} rss ${mib(s.rss)}/${mib(s.peerRss)} MiB fds ${s.fds}/${s.peerFds}\n`,
      );
    }
  };
  await takeSample();
  const timer = setInterval(() => {
    void takeSample().catch((error) => stats.errors.push(`sample: ${error.message}`));
  }, reportSeconds * 1000);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  clearInterval(timer);
  stopping = true;
  await withTimeout(Promise.all(loops), opTimeoutMs + 5_000, 'the loops to finish').catch((error) => stats.errors.push(error.message));
  await takeSample();
  child.send({ type: 'stop' });
  const peerFinal = await next('stopped');

  // Growth after the warm-up: from the first sample at or past a quarter of the run (at least 10 s in).
  const warm = samples.find((s) => s.t >= Math.max(10, seconds / 4)) ?? samples[0];
  const last = samples[samples.length - 1];
  const growth = {
    rssMiB: mib(Math.max(last.rss - warm.rss, 0)),
    peerRssMiB: mib(Math.max(last.peerRss - warm.peerRss, 0)),
    fds: last.fds - warm.fds,
    peerFds: last.peerFds - warm.peerFds,
  };
  const summary = {
    seconds,
    endpoints,
    errorHandling,
    apis: APIS,
    messages: stats.messages,
    total: sum(stats.messages),
    bytes: stats.bytes,
    peerChecked: peerFinal.stats.messages,
    loss: sum(stats.loss),
    duplicates: sum(stats.duplicates) + sum(peerFinal.stats.duplicates),
    corruption: sum(stats.corruption) + sum(peerFinal.stats.corruption),
    lossByApi: stats.loss,
    errors: [...stats.errors, ...peerFinal.stats.errors],
    rss: { start: mib(samples[0].rss), warm: mib(warm.rss), end: mib(last.rss), max: mib(Math.max(...samples.map((s) => s.rss))) },
    peerRss: { start: mib(samples[0].peerRss), warm: mib(warm.peerRss), end: mib(last.peerRss), max: mib(Math.max(...samples.map((s) => s.peerRss))) },
    fds: { start: samples[0].fds, warm: warm.fds, end: last.fds },
    peerFds: { start: samples[0].peerFds, warm: warm.peerFds, end: last.peerFds },
    growth,
    samples,
  };
  const bounded = growth.rssMiB <= maxRssGrowthMiB && growth.peerRssMiB <= maxRssGrowthMiB && growth.fds <= maxFdGrowth && growth.peerFds <= maxFdGrowth;
  summary.ok = summary.loss === 0 && summary.duplicates === 0 && summary.corruption === 0 && bounded && APIS.every((api) => stats.messages[api] > 0);

  for (const conn of conns) await conn.close().catch(() => {});
  for (const ep of eps) await ep.close().catch(() => {});
  child.send({ type: 'exit' });
  await withTimeout(childExit, 15_000, 'the peer to exit').catch(() => child.kill('SIGKILL'));
  await worker.close();
  context.close();

  if (json) {
    console.log(JSON.stringify(summary));
  } else {
    console.log(
      `\n${summary.ok ? 'PASS' : 'FAIL'}: ${summary.total} messages in ${seconds} s over ${endpoints} endpoints (${(summary.bytes / 1048576).toFixed(0)} MiB), ` +
        `loss ${summary.loss}, duplicates ${summary.duplicates}, corruption ${summary.corruption}`,
    );
    console.log(`  per API: ${APIS.map((api) => `${api} ${stats.messages[api]}`).join(', ')}`);
    console.log(
      `  RSS MiB: driver ${summary.rss.start} -> ${summary.rss.end} (max ${summary.rss.max}), peer ${summary.peerRss.start} -> ${summary.peerRss.end} (max ${summary.peerRss.max}); ` +
        `after warm-up +${growth.rssMiB} / +${growth.peerRssMiB} (bound ${maxRssGrowthMiB})`,
    );
    console.log(
      `  fds: driver ${summary.fds.start} -> ${summary.fds.end}, peer ${summary.peerFds.start} -> ${summary.peerFds.end}; after warm-up ${growth.fds} / ${growth.peerFds} (bound ${maxFdGrowth})`,
    );
    if (summary.errors.length > 0) console.log(`  errors: ${summary.errors.join('; ')}`);
  }
  process.exitCode = summary.ok ? 0 : 1;
}

function sum(byApi) {
  return Object.values(byApi).reduce((a, b) => a + b, 0);
}
function mib(bytes) {
  return Math.round(bytes / 1048576);
}
