// Streams against a plain-UCP C peer (test/interop/fixtures/stream-peer.c): what is left of a
// stream when the peer force-closes right after sending, and a peer whose UCX is set up
// differently (docs/api.md "Streams", docs/wire-format.md "Interoperating with C UCP programs").
import path from 'node:path';
import { describe, it, expect, afterEach } from 'vitest';
import { Context, UCXError } from 'node-ucx';
import { startProcess, within } from '../helpers.js';

const STREAM_PEER = path.join(__dirname, 'fixtures', 'bin', 'stream-peer');
/** node-ucx's UCX defaults (defaults.ucxConfig), for the C program. */
const MATCHING_UCX = { UCX_POSIX_ERROR_HANDLING: 'y', UCX_SYSV_ERROR_HANDLING: 'y', UCX_TCP_PUT_ENABLE: 'n' };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('a stream-only C server', () => {
  it('a default Context connects to it and streams when their UCX settings match: UCP features need not match', async () => {
    const peer = startProcess(STREAM_PEER, ['server', 'stream'], MATCHING_UCX);
    cleanups.push(() => { peer.kill(); });
    const [, port] = await peer.line(/^PORT (\d+)$/, 10_000);
    const context = new Context();
    const worker = context.createWorker();
    cleanups.push(async () => { await worker.close(); context.close(); });
    const ep = await within(worker.connect({ host: '127.0.0.1', port: Number(port) }), 10_000, 'connect');
    ep.on('error', () => {});
    await within(ep.streamSend(Buffer.from('hello')), 5_000, 'streamSend');
    await ep.close();
    await within(peer.line(/^EP /), 10_000, 'the C server to see the close');
  });

  it('with UCX\'s own shared-memory settings on the C side, connect() rejects with a coded error that says the settings must match', async () => {
    const peer = startProcess(STREAM_PEER, ['server', 'stream'], { UCX_POSIX_ERROR_HANDLING: 'n', UCX_SYSV_ERROR_HANDLING: 'n' });
    cleanups.push(() => { peer.kill(); });
    const [, port] = await peer.line(/^PORT (\d+)$/, 10_000);
    const context = new Context();
    const worker = context.createWorker();
    cleanups.push(async () => { await worker.close(); context.close(); });
    // The C side trips an assertion in wire-up (UCX 1.13: 'ep_addr_index < address->num_ep_addrs'; without
    // assertions, 'no remote ep address for lane'). Here connect() either rejects, or completes just
    // before the connection breaks: either way the error says what to check.
    const outcome = await within(worker.connect({ host: '127.0.0.1', port: Number(port) }).then(
      (ep) => within(new Promise<unknown>((resolve) => { if (ep.error) resolve(ep.error); else ep.once('error', resolve); }), 5_000, 'the endpoint to fail'),
      (e: unknown) => e), 15_000, 'connect');
    expect(outcome).toBeInstanceOf(UCXError);
    const error = outcome as UCXError;
    expect(['UCS_ERR_CONNECTION_RESET', 'UCS_ERR_ENDPOINT_TIMEOUT', 'UCS_ERR_LINK_FAILURE']).toContain(error.code);
    expect(error.message).toMatch(/settings must match/);
    expect(error.message).toMatch(/UCX_POSIX_ERROR_HANDLING=y UCX_SYSV_ERROR_HANDLING=y/);
    expect(error.message).toMatch(/features need not match \(this context: tag, stream, am\)/);
  });
});
