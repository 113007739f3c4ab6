// The MPI job's challenge-response: how a rank proves to the rendezvous store (and a job to a port it
// connects to) that it knows the secret, and the store proves it back, without the secret on the wire.
//
//   server -> client   challenge { nonce: 32 random bytes (hex) }
//   client -> server   { nonce: 32 random bytes, mac: HMAC-SHA256(secret, "node-ucx mpi v2|client|" sn "|" cn "|" context) }
//   server -> client   { mac: HMAC-SHA256(secret, "node-ucx mpi v2|server|" sn "|" cn "|" context) }
//
// `context` binds the proof to what the client asks for (its rank and the job size; a port's name), so a
// proof cannot be replayed for another rank or on another connection (fresh nonces both ways).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const AUTH_VERSION = 2;
const NONCE_BYTES = 32;

export function newNonce(): string {
  return randomBytes(NONCE_BYTES).toString('hex');
}

/** Whether `value` is a nonce as newNonce() makes them (64 hex digits). */
export function isNonce(value: unknown): value is string {
  return typeof value === 'string' && value.length === 2 * NONCE_BYTES && /^[0-9a-f]+$/.test(value);
}

/** The proof of one side; a job without a secret (null) proves with the empty key, which checks nothing. */
export function proof(secret: string | null, side: 'client' | 'server', serverNonce: string, clientNonce: string, context: string): string {
  return createHmac('sha256', secret ?? '')
    .update(`node-ucx mpi v${AUTH_VERSION}|${side}|${serverNonce}|${clientNonce}|${context}`)
    .digest('hex');
}

/** Compares a proof that came off the wire with the expected one, in constant time. */
export function proofMatches(expected: string, given: unknown): boolean {
  if (typeof given !== 'string' || given.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(expected), Buffer.from(given));
}
