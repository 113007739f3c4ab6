// Hostile peers (docs/wire-format.md, "What node-ucx checks before UCX sees a peer's bytes"): a child
// process feeds thousands of mutated real worker addresses to worker.connect({ address }) and in HELLO
// messages, and mutated real remote keys to ep.unpackRkey on live endpoints, over shared memory and
// tcp (fixtures/hostile.mjs). It must exit 0 having seen only successes and coded errors: a UCX
// assertion or a segfault ends it with a signal, which fails the test.
import path from 'node:path';
import { describe, it, expect } from 'vitest';
import { startProcess } from '../helpers.js';

interface Counts {
  addresses: number;
  addressRefused: number;
  addressUcxError: number;
  connected: number;
  acceptedNotDialled: number;
  hellos: number;
  helloConnections: number;
  keys: number;
  keyRefused: number;
  keyUcxError: number;
  keyAccepted: number;
  putGetChecked: number;
  acceptedNotUsed: number;
  codes: Record<string, number>;
}

const FIXTURE = path.join(__dirname, 'fixtures', 'hostile.mjs');

async function fuzz(env: Record<string, string>, seed: number): Promise<Counts> {
  const child = startProcess(process.execPath, [FIXTURE, '6000', '800', '8000', String(seed)], env);
  const [line] = await child.line(/^\{"addresses".*$/, 40_000).catch(async (error: unknown) => {
    const status = await child.exited;
    throw new Error(`the fuzz process ended with ${status.signal ?? `code ${status.code}`}: ${String(error)}\n${child.stderr().slice(-4000)}`);
  });
  const status = await child.exited;
  expect(status, child.stderr().slice(-4000)).toEqual({ code: 0, signal: null });
  return JSON.parse(line) as Counts;
}

describe('hostile peer bytes, in a child process', () => {
  it.each([
    ['address v1', {}, 11],
    ['address v2 with debug names', { UCX_ADDRESS_VERSION: 'v2', UCX_ADDRESS_DEBUG_INFO: 'y' }, 12],
  ])('%s: mutated addresses and keys end in a success or a coded error, never a crash', async (_name, env, seed) => {
    const counts = await fuzz(env, seed);
    expect(counts.addresses).toBe(6000);
    expect(counts.keys).toBe(8000);
    expect(counts.addressRefused + counts.addressUcxError + counts.connected + counts.acceptedNotDialled).toBe(counts.addresses);
    expect(counts.keyRefused + counts.keyUcxError + counts.keyAccepted).toBe(counts.keys);
    // The mutations are not all refused: UCX itself takes hundreds of mutated addresses and keys.
    expect(counts.connected).toBeGreaterThan(100);
    expect(counts.keyAccepted).toBeGreaterThan(100);
    expect(counts.putGetChecked).toBeGreaterThan(100);
    expect(counts.hellos).toBeGreaterThan(100);
    expect(counts.helloConnections).toBeGreaterThan(10);
    console.log(`${_name}: ${JSON.stringify(counts)}`);
  });
});
