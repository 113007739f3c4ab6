// Wire compatibility with plain UCP: raw tag, stream and active messages against a C
// program that uses only the public UCP API (test/interop/fixtures/c-peer.c, compiled by
// test/global-setup.ts), in both directions. The C peer echoes tag 0x100 as 0x101,
// a length-prefixed stream, and AM 7 as AM 8 on the reply endpoint; tag 0x1FF makes
// it print DONE and exit 0.
import path from 'node:path';
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { Context, type Worker, type Endpoint } from 'node-ucx';
import { startProcess, within, pattern, type Process } from '../helpers.js';

export const C_PEER = path.join(__dirname, 'fixtures', 'bin', 'c-peer');
/**
 * node-ucx's UCX defaults (defaults.ucxConfig), for the C program: in 'peer' error mode both sides
 * must agree that the shared-memory transports take part in error handling (docs/wire-format.md).
 */
const MATCHING_UCX = { UCX_POSIX_ERROR_HANDLING: 'y', UCX_SYSV_ERROR_HANDLING: 'y', UCX_TCP_PUT_ENABLE: 'n' };
const TAG_ECHO = 0x100n;
const TAG_ECHO_REPLY = 0x101n;
const TAG_QUIT = 0x1ffn;
const AM_ECHO = 7;
const AM_ECHO_REPLY = 8;

type Connect = (worker: Worker) => Promise<{ cPeer: Process; ep: Endpoint }>;

const directions: [string, Connect][] = [
  [
    'node-ucx client → C server',
    async (worker) => {
      const cPeer = startProcess(C_PEER, ['server'], MATCHING_UCX);
      const [, port] = await cPeer.line(/^PORT (\d+)$/, 10_000);
      const ep = await within(worker.connect({ host: '127.0.0.1', port: Number(port) }), 10_000, 'connect to the C server');
      return { cPeer, ep };
    },
  ],
  [
    'C client → node-ucx listener',
    async (worker) => {
      let accept!: (ep: Endpoint) => void;
      const accepted = new Promise<Endpoint>((resolve) => {
        accept = resolve;
      });
      const listener = await worker.listen({ host: '127.0.0.1', port: 0 }, accept);
      const cPeer = startProcess(C_PEER, ['client', '127.0.0.1', String(listener.port)], MATCHING_UCX);
      // If the C client gives up (say it cannot connect), fail at once with its stderr.
      const gaveUp = cPeer.exited.then(() => {
        throw new Error(`the C client exited: ${cPeer.stderr().trim()}`);
      });
      const ep = await within(Promise.race([accepted, gaveUp]), 10_000, "the C client's connection");
      return { cPeer, ep };
    },
  ],
];

describe.each(directions)('%s', (_name, connect) => {
  let context: Context;
  let worker: Worker;
  let cPeer: Process;
  let ep: Endpoint;

  beforeEach(async () => {
    context = new Context();
    worker = context.createWorker();
    ({ cPeer, ep } = await connect(worker));
  });

  afterEach(async () => {
    await within(worker.close(), 10_000, 'worker.close()');
    context.close();
  });

  /** Tells the C peer to quit, and checks it got through its script cleanly. */
  async function quit(): Promise<void> {
    await within(ep.tagSend(Buffer.alloc(0), TAG_QUIT), 10_000, 'the quit message to send');
    await within(cPeer.line(/^DONE$/), 10_000, 'DONE from the C peer');
    expect(await within(cPeer.exited, 10_000, 'the C peer to exit')).toEqual({ code: 0, signal: null });
  }

  it('tagged messages of 0 B to 1 MiB come back intact, in order, with the reply tag', async () => {
    const sizes = [0, 1, 8, 8192, 65536, 1 << 20];
    // Post every receive first: the large echoes are rendezvous sends, which complete only once we receive.
    const into = sizes.map((size) => Buffer.alloc(size + 16));
    const replies = sizes.map((size, i) => within(worker.tagRecv(into[i]!, TAG_ECHO_REPLY), 15_000, `the echo of ${size} B (tag 0x101)`));
    await within(Promise.all(sizes.map((size, i) => ep.tagSend(pattern(size, i + 1), TAG_ECHO))), 15_000, 'the tagged sends');
    // Receives with one tag match in the order they were posted, and the C peer answers in order.
    for (const [i, result] of (await Promise.all(replies)).entries()) {
      expect(result).toEqual({ length: sizes[i], tag: TAG_ECHO_REPLY });
      expect(into[i]!.subarray(0, sizes[i]).equals(pattern(sizes[i]!, i + 1))).toBe(true);
    }
    // A receive of unknown size (probe, then receive) works against C too.
    const message = worker.tagRecvMessage(TAG_ECHO_REPLY);
    await within(ep.tagSend(pattern(100_000, 9), TAG_ECHO), 10_000, 'tagSend of 100 kB');
    const { data, tag } = await within(message, 10_000, 'tagRecvMessage of the 100 kB echo');
    expect(tag).toBe(TAG_ECHO_REPLY);
    expect(data.equals(pattern(100_000, 9))).toBe(true);
    await quit();
  });

  it('stream bytes come back with waitAll, whether the length header travels alone or with the data', async () => {
    for (const [i, size] of [1, 8, 65536, 1 << 20].entries()) {
      const header = Buffer.alloc(8);
      header.writeBigUInt64LE(BigInt(size));
      const data = pattern(size, i + 20);
      const into = Buffer.alloc(size);
      const echoed = within(ep.streamRecv(into, { waitAll: true }), 15_000, `the stream echo of ${size} B`);
      // A stream has no message boundaries: alternate one send and two.
      if (i % 2 === 0) await within(ep.streamSend(Buffer.concat([header, data])), 15_000, `streamSend of ${size} B`);
      else await within(Promise.all([ep.streamSend(header), ep.streamSend(data)]), 15_000, `streamSend of ${size} B`);
      expect(await echoed).toBe(size);
      expect(into.equals(data)).toBe(true);
    }
    await quit();
  });

  it('active messages, eager and rendezvous, come back with header and data on the same endpoint', async () => {
    const replies = new Map<string, { data: Buffer; length: number; sameEndpoint: boolean }>();
    const arrived = new Promise<void>((resolve) => {
      worker.onActiveMessage(AM_ECHO_REPLY, (message) => {
        replies.set(message.header.toString(), { data: message.data, length: message.length, sameEndpoint: message.reply === ep });
        if (replies.size === 4) resolve();
      });
    });
    const big = pattern(1 << 20, 30);
    await within(ep.amSend(AM_ECHO, Buffer.from('eager'), Buffer.from('small data'), { reply: true, eager: true }), 10_000, 'eager amSend');
    await within(ep.amSend(AM_ECHO, Buffer.from('rendezvous'), big, { reply: true, rendezvous: true }), 15_000, 'rendezvous amSend of 1 MiB');
    await within(ep.amSend(AM_ECHO, Buffer.from('header only'), null, { reply: true }), 10_000, 'header-only amSend');
    await within(ep.amSend(AM_ECHO, null, pattern(200_000, 31), { reply: true }), 15_000, 'amSend of 200 kB without header, protocol left to UCX');
    await within(arrived, 15_000, 'four AM replies (id 8)');
    expect(replies.get('eager')).toEqual({ data: Buffer.from('small data'), length: 10, sameEndpoint: true });
    const rendezvous = replies.get('rendezvous')!;
    expect(rendezvous.length).toBe(1 << 20);
    expect(rendezvous.data.equals(big)).toBe(true);
    expect(rendezvous.sameEndpoint).toBe(true);
    expect(replies.get('header only')).toEqual({ data: Buffer.alloc(0), length: 0, sameEndpoint: true });
    const headerless = replies.get('')!;
    expect(headerless.data.equals(pattern(200_000, 31))).toBe(true);
    expect(headerless.sameEndpoint).toBe(true);
    await quit();
  });

  it('an active message sent without { reply: true } reaches the C program with no reply endpoint', async () => {
    await within(ep.amSend(AM_ECHO, Buffer.from('no reply'), Buffer.from('x'), {}), 10_000, 'amSend without reply');
    const { code } = await within(cPeer.exited, 10_000, 'the C peer to give up');
    expect(code).toBe(1);
    expect(cPeer.stderr()).toMatch(/without a reply endpoint/);
  });
});
