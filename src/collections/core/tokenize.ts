// Deterministic tokens for key names (Dask's tokenize): the same operation on the same inputs gives the
// same keys, so that graphs built twice merge instead of computing twice, and persisted results are
// found again. Plain data is hashed by content (object keys sorted, as Dask normalizes dicts);
// functions by source and identity (two closures with the same source may differ in what they
// capture, and equal tokens would merge their keys); other objects by identity.
import { createHash, type Hash } from 'node:crypto';
import { isModuleRef, toCode } from '../../scheduler/code.js';

/** Objects that name their own token (collections: their name). */
export const TOKEN = Symbol.for('node-ucx.token');
export interface Tokenizable {
  [TOKEN](): string;
}

/** Hex digits of a token: 64 bits, short enough to read in keys, wide enough not to collide. */
const TOKEN_LENGTH = 16;

/** A token for `values`, taken together. */
export function tokenize(...values: unknown[]): string {
  const hasher = new Hasher();
  for (const value of values) hasher.value(value);
  return hasher.digest();
}

const identities = new WeakMap<object, number>();
let nextIdentity = 1;

function identityOf(object: object): number {
  let id = identities.get(object);
  if (id === undefined) identities.set(object, (id = nextIdentity++));
  return id;
}

class Hasher {
  readonly #hash: Hash = createHash('sha256');
  /** Small writes are joined before they reach the hash (one update per item costs more than the item). */
  #pending = '';
  readonly #seen = new Set<object>();

  digest(): string {
    this.#flush();
    return this.#hash.digest('hex').slice(0, TOKEN_LENGTH);
  }

  value(v: unknown): void {
    switch (typeof v) {
      case 'undefined':
        return this.#write('u;');
      case 'boolean':
        return this.#write(v ? 't;' : 'f;');
      case 'number':
        return this.#write(Object.is(v, -0) ? 'n-0;' : `n${v};`);
      case 'bigint':
        return this.#write(`i${v};`);
      case 'string':
        return this.#write(`s${v.length}:${v}`);
      case 'symbol':
        return this.#write(`y${identityOf(Object(v) as object)};`);
      case 'function': {
        // The source for what the function does, the identity for what it may have captured.
        let source = 'native'; // a native or bound function (no source): its identity alone
        try {
          const code = toCode(v);
          if (code.kind === 'source') source = code.hash;
        } catch {
          /* keep 'native' */
        }
        return this.#write(`F${source}@${identityOf(v)};`);
      }
      default:
        return this.#object(v as object | null);
    }
  }

  #object(v: object | null): void {
    if (v === null) return this.#write('z;');
    if (this.#seen.has(v)) return this.#write('^;');
    if (typeof (v as Partial<Tokenizable>)[TOKEN] === 'function') return this.#write(`T${(v as Tokenizable)[TOKEN]()};`);
    if (isModuleRef(v)) return this.#write(`M${v.module}#${v.export};`);
    if (ArrayBuffer.isView(v)) {
      this.#write(`v${v.constructor.name}${v.byteLength}:`);
      this.#flush();
      this.#hash.update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      return;
    }
    this.#seen.add(v);
    try {
      if (Array.isArray(v)) {
        this.#write(`a${v.length}[`);
        for (const item of v) this.value(item);
        return this.#write(']');
      }
      if (v instanceof Map) {
        this.#write(`m${v.size}{`);
        for (const [key, value] of v) {
          this.value(key);
          this.value(value);
        }
        return this.#write('}');
      }
      if (v instanceof Set) {
        this.#write(`S${v.size}{`);
        for (const item of v) this.value(item);
        return this.#write('}');
      }
      if (v instanceof Date) return this.#write(`d${v.getTime()};`);
      if (v instanceof RegExp) return this.#write(`r${v.source}/${v.flags};`);
      const proto = Object.getPrototypeOf(v) as object | null;
      if (proto === Object.prototype || proto === null) {
        const keys = Object.keys(v).sort();
        this.#write(`o${keys.length}{`);
        for (const key of keys) {
          this.#write(`s${key.length}:${key}`);
          this.value((v as Record<string, unknown>)[key]);
        }
        return this.#write('}');
      }
      // A class instance may hold state no property shows: its identity, not its content.
      this.#write(`I${identityOf(v)};`);
    } finally {
      this.#seen.delete(v);
    }
  }

  #write(text: string): void {
    this.#pending += text;
    if (this.#pending.length >= 1 << 16) this.#flush();
  }

  #flush(): void {
    if (this.#pending.length === 0) return;
    this.#hash.update(this.#pending);
    this.#pending = '';
  }
}
