// A process card: what a rank publishes about itself in the bootstrap (through the rendezvous store or
// PMIx) and what connected jobs exchange: its UCX worker address, its host name, and the identity of its
// "node" for shared memory (the kernel's boot id and the IPC and network namespaces). Ranks whose node
// ids match reach each other over shared memory; the others are other hosts (or containers, or network
// namespaces) and are reached over the network, with peer error handling. See docs/mpi.md ("Across hosts").
//
//   u8 version 1 · u8 0 · u16 JSON length n · n bytes JSON {host, node, pid} · the worker address
//
// Cards come from peers: decode() checks every field and throws ERR_MPI_BOOTSTRAP on anything else.
import fs from 'node:fs';
import os from 'node:os';
import { MPIError } from './errors.js';

export interface ProcessCard {
  /** The UCX worker address. */
  address: Buffer;
  /** The host name (for messages). */
  host: string;
  /** Boot id and namespaces: equal node ids can use shared memory. */
  node: string;
  pid: number;
}

const VERSION = 1;
const MAX_TEXT = 1024;

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return fallback;
  }
}

function namespaceOf(kind: string): string {
  try {
    return fs.readlinkSync(`/proc/self/ns/${kind}`);
  } catch {
    return `${kind}:?`;
  }
}

let ownNode: string | undefined;

/**
 * This process's node id: UCX 1.13 offers shared memory between processes with the same boot id and IPC
 * namespace, but its event-mode wake-ups travel on an abstract UNIX socket, which is per network
 * namespace, so the network namespace is part of the id too.
 */
export function nodeId(): string {
  ownNode ??= [readOr('/proc/sys/kernel/random/boot_id', os.hostname()), namespaceOf('ipc'), namespaceOf('net')].join('/');
  return ownNode;
}

export function ownCard(address: Buffer): ProcessCard {
  return { address, host: os.hostname(), node: nodeId(), pid: process.pid };
}

export function encodeCard(card: ProcessCard): Buffer {
  const text = Buffer.from(JSON.stringify({ host: card.host, node: card.node, pid: card.pid }));
  const head = Buffer.alloc(4);
  head.writeUInt8(VERSION, 0);
  head.writeUInt16LE(text.length, 2);
  return Buffer.concat([head, text, card.address]);
}

function bad(from: string, why: string): MPIError {
  return new MPIError('ERR_MPI_BOOTSTRAP', `${from} published a malformed process card (${why})`);
}

function text(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_TEXT;
}

/** The card in `bytes`, checked; `from` names the sender in the error. */
export function decodeCard(bytes: Uint8Array, from: string): ProcessCard {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer.length < 4) throw bad(from, `${buffer.length} bytes`);
  if (buffer.readUInt8(0) !== VERSION || buffer.readUInt8(1) !== 0) throw bad(from, 'unknown version');
  const length = buffer.readUInt16LE(2);
  if (length > MAX_TEXT * 3 || 4 + length >= buffer.length) throw bad(from, 'lengths');
  let fields: unknown;
  try {
    fields = JSON.parse(buffer.toString('utf8', 4, 4 + length));
  } catch {
    throw bad(from, 'not JSON');
  }
  if (typeof fields !== 'object' || fields === null) throw bad(from, 'not an object');
  const { host, node, pid } = fields as Record<string, unknown>;
  if (!text(host) || !text(node) || typeof pid !== 'number' || !Number.isInteger(pid) || pid < 0) throw bad(from, 'fields');
  return { address: Buffer.from(buffer.subarray(4 + length)), host, node, pid };
}
