// Keys by value, the way Python's dicts and sets compare tuples: the bag's groupby, foldby,
// frequencies and distinct group elements whose keys are equal in content, also when the keys are
// arrays or objects (a JS Map would compare those by identity, and identity does not survive a copy
// between threads). Primitives compare as Map keys do (SameValueZero); arrays, plain objects, Dates,
// Maps, Sets and typed arrays by content.

/** A canonical text of `value`: equal for values equal in content. */
export function canonical(value: unknown): string {
  const parts: string[] = [];
  write(value, parts, new Set());
  return parts.join('');
}

function write(v: unknown, out: string[], seen: Set<object>): void {
  switch (typeof v) {
    case 'string':
      out.push(JSON.stringify(v));
      return;
    case 'number':
      out.push(Object.is(v, -0) ? '0' : String(v));
      return;
    case 'bigint':
      out.push(`${v}n`);
      return;
    case 'boolean':
      out.push(v ? 'true' : 'false');
      return;
    case 'undefined':
      out.push('undefined');
      return;
    case 'symbol':
      out.push(`Symbol(${v.description ?? ''})`);
      return;
    case 'function':
      out.push(`function ${v.name}`);
      return;
  }
  if (v === null) {
    out.push('null');
    return;
  }
  const object = v as object;
  if (seen.has(object)) throw Object.assign(new TypeError('a key must not contain itself (a cyclic object)'), { code: 'ERR_INVALID_ARG_VALUE' });
  seen.add(object);
  if (Array.isArray(object)) {
    out.push('[');
    object.forEach((item, i) => {
      if (i > 0) out.push(',');
      write(item, out, seen);
    });
    out.push(']');
  } else if (ArrayBuffer.isView(object)) {
    out.push(`${object.constructor.name}(${Buffer.from(object.buffer, object.byteOffset, object.byteLength).toString('hex')})`);
  } else if (object instanceof Date) {
    out.push(`Date(${object.getTime()})`);
  } else if (object instanceof Map) {
    const entries = [...object].map(([k, val]) => `${canonical(k)}=>${canonical(val)}`).sort();
    out.push(`Map{${entries.join(',')}}`);
  } else if (object instanceof Set) {
    out.push(`Set{${[...object].map(canonical).sort().join(',')}}`);
  } else {
    const keys = Object.keys(object).sort();
    out.push('{');
    keys.forEach((key, i) => {
      if (i > 0) out.push(',');
      out.push(JSON.stringify(key), ':');
      write((object as Record<string, unknown>)[key], out, seen);
    });
    out.push('}');
  }
  seen.delete(object);
}

function isPrimitive(value: unknown): boolean {
  return value === null || (typeof value !== 'object' && typeof value !== 'function');
}

interface Entry<V> {
  key: unknown;
  value: V;
}

/** A map whose keys compare by content (canonical()), in insertion order. */
export class KeyedMap<V> {
  readonly #primitives = new Map<unknown, Entry<V>>();
  readonly #objects = new Map<string, Entry<V>>();
  readonly #order: Entry<V>[] = [];

  get size(): number {
    return this.#order.length;
  }

  get(key: unknown): V | undefined {
    return this.#entry(key)?.value;
  }

  has(key: unknown): boolean {
    return this.#entry(key) !== undefined;
  }

  set(key: unknown, value: V): void {
    const entry = this.#entry(key);
    if (entry !== undefined) {
      entry.value = value;
      return;
    }
    const added = { key, value };
    if (isPrimitive(key)) this.#primitives.set(key, added);
    else this.#objects.set(canonical(key), added);
    this.#order.push(added);
  }

  /** [key, value] pairs, first insertion first (the first key seen of each group is the one kept). */
  entries(): [unknown, V][] {
    return this.#order.map((entry) => [entry.key, entry.value]);
  }

  #entry(key: unknown): Entry<V> | undefined {
    return isPrimitive(key) ? this.#primitives.get(key) : this.#objects.get(canonical(key));
  }
}

/**
 * A 32-bit hash of `key` that equal keys (by KeyedMap's equality) share in every thread and process:
 * where a shuffle sends the element (groupby). FNV-1a over the canonical text.
 */
export function stableHash(key: unknown): number {
  const text = typeof key === 'string' ? `s${key}` : canonical(key);
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
