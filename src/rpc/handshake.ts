// The join handshake of an rpc connection: mutual HMAC challenge-response over a
// shared secret, before anything else is read. The secret never crosses the wire;
// a peer that fails (or stalls, or sends more than a handshake's worth of bytes)
// is dropped before any handler runs.
//
//   server -> client   HELLO   { v: 1, nonce: 32 random bytes, name }
//   client -> server   AUTH    { v: 1, nonce: 32 random bytes, name, role, mac: HMAC(secret, client | nonces | names | role) }
//   server -> client   WELCOME { mac: HMAC(secret, server | nonces | names | role) }   (or DENIED, then close)
//
// Each is one single-frame message in the object codec (docs/scheduler.md, "Security").
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { encodeObject, decodeObject } from '../util/object-codec.js';
import type { Connection } from '../transport/types.js';
import { RpcError } from './errors.js';

export const HANDSHAKE_VERSION = 1;
/** What a peer may send before it has authenticated: a handshake message is a few hundred bytes. */
export const HANDSHAKE_MAX_BYTES = 4096;

export interface Identity {
  /** This side's name as its peers see it (a worker's listen address, a client's id). */
  name: string;
  /** What this side is: 'client', 'worker', 'scheduler', 'nanny'. */
  role: string;
}

export interface Joined {
  /** The peer's name and role, as it authenticated them. */
  name: string;
  role: string;
}

function mac(
  secret: Buffer,
  side: 'client' | 'server',
  serverNonce: Buffer,
  clientNonce: Buffer,
  serverName: string,
  clientName: string,
  role: string,
): Buffer {
  return createHmac('sha256', secret)
    .update(`node-ucx rpc v${HANDSHAKE_VERSION}|${side}|`)
    .update(serverNonce)
    .update('|')
    .update(clientNonce)
    .update(`|${serverName}|${clientName}|${role}`)
    .digest();
}

function sameMac(a: unknown, b: Buffer): boolean {
  return a instanceof Uint8Array && a.length === b.length && timingSafeEqual(a, b);
}

/** One handshake message, bounded in time and size; anything unexpected is an RpcError. */
async function recvOne(connection: Connection, timeoutMs: number, what: string): Promise<Record<string, unknown>> {
  const frames = await connection.recv({ signal: AbortSignal.timeout(timeoutMs) }).catch((error: unknown) => {
    throw new RpcError('ERR_RPC_HANDSHAKE', `no ${what} within ${timeoutMs} ms`, { cause: error });
  });
  if (frames.length !== 1) throw new RpcError('ERR_RPC_HANDSHAKE', `a ${what} must be one frame, not ${frames.length}`);
  let message: unknown;
  try {
    message = decodeObject(frames[0]!);
  } catch (error) {
    throw new RpcError('ERR_RPC_HANDSHAKE', `a malformed ${what}`, { cause: error });
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message)) {
    throw new RpcError('ERR_RPC_HANDSHAKE', `a ${what} that is not an object`);
  }
  return message as Record<string, unknown>;
}

function nonceOf(message: Record<string, unknown>, what: string): Buffer {
  const nonce = message.nonce;
  if (!(nonce instanceof Uint8Array) || nonce.length !== 32) throw new RpcError('ERR_RPC_HANDSHAKE', `a ${what} without a 32-byte nonce`);
  return Buffer.from(nonce);
}

function textOf(message: Record<string, unknown>, field: string, what: string): string {
  const value = message[field];
  if (typeof value !== 'string' || value.length === 0 || value.length > 512) {
    throw new RpcError('ERR_RPC_HANDSHAKE', `a ${what} without a valid ${field}`);
  }
  return value;
}

/** The server's side: authenticates the peer on a fresh connection, or throws (the caller drops it). */
export async function acceptJoin(connection: Connection, secret: Buffer, self: Identity, timeoutMs: number): Promise<Joined> {
  const serverNonce = randomBytes(32);
  await connection.send([encodeObject({ op: 'hello', v: HANDSHAKE_VERSION, nonce: serverNonce, name: self.name })]);
  const auth = await recvOne(connection, timeoutMs, 'join request');
  if (auth.op !== 'auth' || auth.v !== HANDSHAKE_VERSION) throw new RpcError('ERR_RPC_HANDSHAKE', 'not a join request of this version');
  const clientNonce = nonceOf(auth, 'join request');
  const name = textOf(auth, 'name', 'join request');
  const role = textOf(auth, 'role', 'join request');
  if (!sameMac(auth.mac, mac(secret, 'client', serverNonce, clientNonce, self.name, name, role))) {
    await connection.send([encodeObject({ op: 'denied' })]).catch(() => {});
    throw new RpcError('ERR_RPC_AUTH', `${role} '${name}' failed to authenticate (wrong or no cluster secret)`);
  }
  await connection.send([encodeObject({ op: 'welcome', mac: mac(secret, 'server', serverNonce, clientNonce, self.name, name, role) })]);
  return { name, role };
}

/** The client's side: joins the server on a fresh connection, or throws. */
export async function join(connection: Connection, secret: Buffer, self: Identity, timeoutMs: number): Promise<Joined> {
  const hello = await recvOne(connection, timeoutMs, 'hello');
  if (hello.op !== 'hello' || hello.v !== HANDSHAKE_VERSION) throw new RpcError('ERR_RPC_HANDSHAKE', 'the server speaks another protocol version');
  const serverNonce = nonceOf(hello, 'hello');
  const serverName = textOf(hello, 'name', 'hello');
  const clientNonce = randomBytes(32);
  await connection.send([
    encodeObject({
      op: 'auth',
      v: HANDSHAKE_VERSION,
      nonce: clientNonce,
      name: self.name,
      role: self.role,
      mac: mac(secret, 'client', serverNonce, clientNonce, serverName, self.name, self.role),
    }),
  ]);
  const answer = await recvOne(connection, timeoutMs, 'welcome');
  if (answer.op === 'denied') throw new RpcError('ERR_RPC_AUTH', `${serverName} refused to let this ${self.role} join (wrong or no cluster secret)`);
  if (answer.op !== 'welcome' || !sameMac(answer.mac, mac(secret, 'server', serverNonce, clientNonce, serverName, self.name, self.role))) {
    throw new RpcError('ERR_RPC_AUTH', `${serverName} did not prove it knows the cluster secret`);
  }
  return { name: serverName, role: 'server' };
}
