// Two real hosts on one machine: network namespaces joined by a veth pair, so UCX's TCP
// transport crosses a real link. Addresses live only inside the namespaces made here.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { FIXTURES, within } from '../helpers.js';

const id = process.pid % 100000;
const HOSTS = [
  { ns: `nucx-a-${id}`, dev: `nuxa${id}`, ip: '10.213.7.1' },
  { ns: `nucx-b-${id}`, dev: `nuxb${id}`, ip: '10.213.7.2' },
] as const;

function ip(...args: string[]): string {
  return execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

function canMakeNamespaces(): string | null {
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces';
  try {
    ip('netns', 'list');
  } catch {
    return "needs iproute2's ip with network namespace support";
  }
  return null;
}

const unavailable = canMakeNamespaces();
const children = new Set<ChildProcess>();

interface Host {
  child: ChildProcess;
  next(type: string): Promise<Record<string, unknown>>;
  call(cmd: string, args?: object): Promise<unknown>;
}

function startHost(host: (typeof HOSTS)[number], env: Record<string, string> = {}): Host {
  const child = spawn('ip', ['netns', 'exec', host.ns, process.execPath, path.join(FIXTURES, 'peer.mjs')], {
    // Network namespaces share /dev/shm and the PID space, so UCX would talk shared memory between
    // them (as between containers of one host); separate hosts do not, and TCP is what they use.
    env: { ...process.env, PEER_HOST: host.ip, UCX_NET_DEVICES: 'all', UCX_TLS: 'tcp', ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  const inbox: Record<string, unknown>[] = [];
  const waiters: [string, (m: Record<string, unknown>) => void][] = [];
  child.on('message', (m: Record<string, unknown>) => {
    const i = waiters.findIndex(([type]) => type === m.type);
    if (i >= 0) waiters.splice(i, 1)[0]![1](m);
    else inbox.push(m);
  });
  let seq = 1000;
  const next = (type: string) => {
    const i = inbox.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]!);
    return within(new Promise<Record<string, unknown>>((resolve) => waiters.push([type, resolve])), 15_000, `'${type}' from ${host.ns}`);
  };
  return {
    child,
    next,
    async call(cmd, args = {}) {
      const callId = ++seq;
      child.send({ cmd, id: callId, ...args });
      for (;;) {
        const done = await next('done');
        if (done.id !== callId) continue;
        if (done.error) throw Object.assign(new Error((done.error as { message: string }).message), done.error);
        return done.result;
      }
    },
  };
}

describe.skipIf(unavailable !== null)(`two hosts in network namespaces${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  beforeAll(async () => {
    for (const host of HOSTS) ip('netns', 'add', host.ns);
    ip('link', 'add', HOSTS[0].dev, 'netns', HOSTS[0].ns, 'type', 'veth', 'peer', 'name', HOSTS[1].dev, 'netns', HOSTS[1].ns);
    for (const host of HOSTS) {
      ip('-n', host.ns, 'addr', 'add', `${host.ip}/24`, 'dev', host.dev);
      ip('-n', host.ns, 'link', 'set', 'lo', 'up');
      ip('-n', host.ns, 'link', 'set', host.dev, 'up');
    }
    // UCX lists only links that are up with a carrier when a context starts.
    const deadline = Date.now() + 10_000;
    while (!HOSTS.every((h) => ip('-n', h.ns, 'link', 'show', h.dev).includes('LOWER_UP'))) {
      if (Date.now() > deadline) throw new Error('the veth link did not come up within 10 s');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });

  afterEach(() => {
    for (const child of children) child.kill('SIGKILL');
    children.clear();
  });

  afterAll(() => {
    for (const host of HOSTS) {
      try {
        ip('netns', 'del', host.ns);
      } catch {
        /* already gone */
      }
    }
  });

  it('endpoint messages cross the link over TCP, intact and in order', async () => {
    const [a, b] = [startHost(HOSTS[0]), startHost(HOSTS[1])];
    const { port } = await b.next('ready');
    await a.next('ready');
    expect(await a.call('connect', { host: HOSTS[1].ip, port })).toBe(0);
    await b.next('connection');
    await b.call('echoAll');
    for (const [i, size] of [0, 100, 65536, 4 << 20].entries()) {
      await a.call('sendPattern', { size, seed: i + 1 });
      expect(await a.call('recvCheck', { size, seed: i + 1 })).toEqual({ length: size, ok: true });
    }
    const info = (await a.call('info')) as { transports: string[] };
    expect(info.transports).toContain(`tcp/${HOSTS[0].dev}`);
  });

  it('a peer killed on the other host fails the pending receive within 5 s', async () => {
    const [a, b] = [startHost(HOSTS[0]), startHost(HOSTS[1])];
    const { port } = await b.next('ready');
    await a.next('ready');
    await a.call('connect', { host: HOSTS[1].ip, port });
    await b.next('connection');
    const pending = a.call('recvForever');
    await a.next('receiving');
    const killedAt = Date.now();
    b.child.kill('SIGKILL');
    const outcome = (await within(pending, 5_000, 'the pending receive to fail after the peer was killed')) as { code: string };
    expect(outcome.code).toMatch(/^UCS_ERR_/);
    expect(Date.now() - killedAt).toBeLessThan(5_000);
    expect((await a.next('ep-error')).code).toMatch(/^UCS_ERR_/);
  });

  it('with a heartbeat, a cut link fails the pending receive with UCS_ERR_ENDPOINT_TIMEOUT', async () => {
    // Without one, UCX 1.13 over TCP reports a silently cut link only when TCP gives up (minutes).
    const [a, b] = [startHost(HOSTS[0], { PEER_HEARTBEAT_MS: '300' }), startHost(HOSTS[1])];
    const { port } = await b.next('ready');
    await a.next('ready');
    await a.call('connect', { host: HOSTS[1].ip, port });
    await b.next('connection');
    // One message each way completes the handshake, which starts the heartbeat.
    const checked = b.call('recvCheck', { size: 10, seed: 1 });
    await a.call('sendPattern', { size: 10, seed: 1 });
    await checked;
    const pending = a.call('recvForever');
    await a.next('receiving');
    let settledEarly = false;
    void pending.finally(() => {
      settledEarly = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 1000)); // heartbeats flow while the link is up
    expect(settledEarly, 'a healthy link must not time out').toBe(false);
    const cutAt = Date.now();
    ip('-n', HOSTS[0].ns, 'link', 'set', HOSTS[0].dev, 'down');
    const outcome = (await within(pending, 5_000, 'the pending receive to fail after the link was cut')) as { code: string };
    expect(outcome.code).toBe('UCS_ERR_ENDPOINT_TIMEOUT');
    expect(Date.now() - cutAt).toBeLessThan(3_000);
    ip('-n', HOSTS[0].ns, 'link', 'set', HOSTS[0].dev, 'up');
  });
});
