// The collectives' scratch arrays (buffers.ts takeScratch/giveScratch): reused between calls, never shared
// by two calls at once, kept per typed-array type and only up to a size.
import { describe, it, expect } from 'vitest';
import { takeScratch, giveScratch } from '../../src/mpi/buffers.js';

describe('collective scratch arrays', () => {
  it('a returned scratch array serves the next call of its type that fits; one in use is never handed out twice', () => {
    const like = new Float64Array(1);
    const first = takeScratch(like, 1000);
    expect(first).toBeInstanceOf(Float64Array);
    expect(first.length).toBe(1000);
    // In use: a concurrent call gets another one.
    const second = takeScratch(like, 1000);
    expect(second).not.toBe(first);
    giveScratch(first);
    expect(takeScratch(like, 500)).toBe(first);
    // Another type never gets it.
    giveScratch(second);
    expect(takeScratch(new Int32Array(1), 10)).toBeInstanceOf(Int32Array);
    // Too small for the call: a fresh one of the size asked.
    const bigger = takeScratch(like, 5000);
    expect(bigger.length).toBe(5000);
  });

  it('large scratch arrays are not kept (their memory goes back at once)', () => {
    const like = new Uint8Array(1);
    const large = takeScratch(like, 32 * 1024 * 1024);
    giveScratch(large);
    expect(takeScratch(like, 16)).not.toBe(large);
  });
});
