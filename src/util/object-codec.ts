// The bytes of sendObject()/recvObject() (and the MPI shim's object messages).
//
// v8.serialize costs ~1.5 µs and v8.deserialize ~1.3 µs even for a three-field
// object, more than a whole shared-memory round trip. Most messages are plain
// data (objects, arrays, strings, numbers, booleans, null, bigints), so those
// get a compact format of their own, ~0.25-0.3 µs each way, and everything else
// (Map, Set, Date, typed arrays, class instances, shared or cyclic references,
// sparse arrays, lone surrogates, ...) goes through v8.serialize unchanged.
// The first byte tells them apart: v8's format always starts with 0xFF.
// Whatever the path, decodeObject(encodeObject(v)) equals v8's round trip of v.
//
// encodeFrames()/decodeFrames() are the same with the bytes of typed arrays, Buffers
// and DataViews kept out of the message: a header frame, then one frame per view of
// FRAME_MIN_BYTES or more, sent as they are (zero copy on transports that can) — how
// the scheduler moves task arguments and results.
import v8 from 'node:v8';

/** First byte of a message in the plain-data format (docs/wire-format.md, "Objects"). */
export const PLAIN_FORMAT = 0x01;
const V8_FORMAT = 0xff;

const enum Kind {
  Undefined = 0,
  Null = 1,
  False = 2,
  True = 3,
  Int32 = 4,
  Float64 = 5,
  String = 6,
  BigInt = 7,
  Array = 8,
  Object = 9,
  /** An ArrayBufferView whose bytes are frame `index` (encodeFrames). */
  FrameView = 10,
  /** A small ArrayBufferView whose bytes follow (encodeFrames). */
  InlineView = 11,
}

/** Views this large or larger travel as frames of their own; smaller ones are copied into the header. */
export const FRAME_MIN_BYTES = 4096;

type ViewConstructor = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): ArrayBufferView; BYTES_PER_ELEMENT?: number };
/** ArrayBufferView types by code (the wire's), Buffer first. */
const VIEW_TYPES: readonly ViewConstructor[] = [
  Buffer as unknown as ViewConstructor,
  Uint8Array,
  Int8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
  DataView as unknown as ViewConstructor,
];

function viewType(view: ArrayBufferView): number {
  if (Buffer.isBuffer(view)) return 0;
  const index = VIEW_TYPES.indexOf(view.constructor as ViewConstructor);
  // A subclass of a typed array arrives as its base type.
  if (index >= 0) return index;
  for (let i = 1; i < VIEW_TYPES.length; i++) if (view instanceof (VIEW_TYPES[i] as unknown as typeof Uint8Array)) return i;
  return 1;
}

/** A view of `type` over `bytes`, copied first when they are not aligned for its element size. */
function viewOver(type: number, bytes: Buffer): ArrayBufferView {
  const ctor = VIEW_TYPES[type];
  if (ctor === undefined) throw malformed(`unknown view type ${type}`);
  if (type === 0) return bytes;
  const size = ctor.BYTES_PER_ELEMENT ?? 1;
  if (bytes.length % size !== 0) throw malformed(`a ${ctor.name} of ${bytes.length} bytes`);
  const aligned = bytes.byteOffset % size === 0 ? bytes : Buffer.from(bytes);
  return new ctor(aligned.buffer, aligned.byteOffset, type === 12 ? bytes.length : bytes.length / size);
}

// Float64 <-> bytes without a DataView per message (little-endian, like every platform UCX runs on).
const float64 = new Float64Array(1);
const float64Bytes = new Uint8Array(float64.buffer);

/** Nesting beyond this goes to v8 (which handles any depth its stack allows). */
const MAX_DEPTH = 64;

/**
 * What a message can cost to decode is bounded by its size: every element takes at least one byte
 * (lengths and counts beyond the bytes left are malformed), so the densest message, an array of empty
 * objects, decodes to ~32x its size in V8's heap (64 bytes an object per 2 bytes); v8's own format is
 * similar (~24x). What bounds the cost, then, is the size of the message a receiver accepts
 * (recvObject({ maxLength })). test/unit/object-codec.test.ts measures the worst cases.
 */
export const MAX_DECODE_EXPANSION = 40;

/** A malformed message from a peer: TypeError, coded so that a receiver can tell it from its own bugs. */
export function malformed(reason: string, cause?: unknown): TypeError {
  const error = new TypeError(`malformed object message: ${reason}`, cause === undefined ? undefined : { cause });
  return Object.assign(error, { code: 'ERR_UCX_MALFORMED_OBJECT' });
}

/** String.prototype.isWellFormed (ES2024; Node 20 has it, the TS lib target here does not). */
interface WellFormed {
  isWellFormed(): boolean;
}

/** Thrown inside the plain encoder when a value needs v8; never escapes this module. */
const NEEDS_V8 = Symbol('needs v8');

class PlainEncoder {
  buffer = Buffer.allocUnsafeSlow(4096);
  pos = 0;
  /** Every object and array seen in this message: a second sighting (shared or cyclic) needs v8. */
  readonly seen = new Set<object>();
  /** encodeFrames(): the views that become frames of their own (null: views need v8). */
  views: ArrayBufferView[] | null = null;

  encode(value: unknown): Buffer {
    this.pos = 0;
    try {
      this.byte(PLAIN_FORMAT);
      this.value(value, 0);
      // A copy: the scratch buffer is reused by the next message while UCX may still be sending this one.
      // Small messages are copied by hand: Buffer.copy's call costs more than the bytes.
      const out = Buffer.allocUnsafe(this.pos);
      if (this.pos <= 64) for (let i = 0; i < this.pos; i++) out[i] = this.buffer[i]!;
      else this.buffer.copy(out, 0, 0, this.pos);
      return out;
    } finally {
      if (this.seen.size > 0) this.seen.clear();
    }
  }

  private ensure(bytes: number): void {
    if (this.pos + bytes <= this.buffer.length) return;
    const bigger = Buffer.allocUnsafeSlow(Math.max(this.buffer.length * 2, this.pos + bytes));
    this.buffer.copy(bigger, 0, 0, this.pos);
    this.buffer = bigger;
  }

  private byte(b: number): void {
    this.ensure(1);
    this.buffer[this.pos++] = b;
  }

  private varint(n: number): void {
    this.ensure(5);
    while (n >= 0x80) {
      this.buffer[this.pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    this.buffer[this.pos++] = n;
  }

  /** UTF-8 with a varint length; strings UTF-8 cannot carry exactly (lone surrogates) need v8. */
  private string(s: string): void {
    const length = s.length;
    if (length < 0x80) {
      // Short strings: ASCII is copied by hand (Buffer.write's argument handling costs more than
      // the copy); the first other character hands the string to the general path below.
      this.ensure(1 + length);
      const buffer = this.buffer;
      const start = this.pos;
      let i = 0;
      for (; i < length; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buffer[start + 1 + i] = c;
      }
      if (i === length) {
        buffer[start] = length;
        this.pos = start + 1 + length;
        return;
      }
    }
    if (!(s as unknown as WellFormed).isWellFormed()) throw NEEDS_V8;
    const n = Buffer.byteLength(s, 'utf8');
    this.varint(n);
    this.ensure(n);
    this.pos += this.buffer.write(s, this.pos, n, 'utf8');
  }

  private value(v: unknown, depth: number): void {
    switch (typeof v) {
      case 'number':
        if ((v | 0) === v && !Object.is(v, -0)) {
          this.ensure(5);
          const b = this.buffer;
          const p = this.pos;
          b[p] = Kind.Int32;
          b[p + 1] = v;
          b[p + 2] = v >> 8;
          b[p + 3] = v >> 16;
          b[p + 4] = v >> 24;
          this.pos = p + 5;
        } else {
          this.ensure(9);
          this.buffer[this.pos] = Kind.Float64;
          float64[0] = v;
          for (let i = 0; i < 8; i++) this.buffer[this.pos + 1 + i] = float64Bytes[i]!;
          this.pos += 9;
        }
        return;
      case 'string':
        this.byte(Kind.String);
        this.string(v);
        return;
      case 'boolean':
        this.byte(v ? Kind.True : Kind.False);
        return;
      case 'undefined':
        this.byte(Kind.Undefined);
        return;
      case 'bigint':
        this.byte(Kind.BigInt);
        this.string(v.toString(16));
        return;
      case 'object':
        if (v === null) {
          this.byte(Kind.Null);
          return;
        }
        // A repeated object must arrive as one object (and a cycle must end): only v8 does that.
        // The root needs no entry: it can recur only through a cycle, which MAX_DEPTH ends.
        if (depth >= MAX_DEPTH) throw NEEDS_V8;
        if (depth > 0) {
          if (this.seen.has(v)) throw NEEDS_V8;
          this.seen.add(v);
        }
        if (Array.isArray(v)) this.array(v, depth);
        else if (this.views !== null && ArrayBuffer.isView(v)) this.view(v);
        else this.object(v, depth);
        return;
      default:
        // functions and symbols: v8 throws the DataCloneError users expect
        throw NEEDS_V8;
    }
  }

  private array(a: unknown[], depth: number): void {
    // Holes and extra properties (a.foo = 1) survive v8 but not this format.
    if (Object.getPrototypeOf(a) !== Array.prototype || Object.keys(a).length !== a.length) throw NEEDS_V8;
    this.byte(Kind.Array);
    this.varint(a.length);
    for (let i = 0; i < a.length; i++) this.value(a[i], depth + 1);
  }

  private view(view: ArrayBufferView): void {
    const bytes = view.byteLength;
    if (bytes >= FRAME_MIN_BYTES) {
      this.ensure(2 + 5);
      this.buffer[this.pos++] = Kind.FrameView;
      this.buffer[this.pos++] = viewType(view);
      this.varint(this.views!.length);
      this.views!.push(view);
      return;
    }
    this.ensure(2 + 5 + bytes);
    this.buffer[this.pos++] = Kind.InlineView;
    this.buffer[this.pos++] = viewType(view);
    this.varint(bytes);
    this.buffer.set(new Uint8Array(view.buffer, view.byteOffset, bytes), this.pos);
    this.pos += bytes;
  }

  private object(o: object, depth: number): void {
    if (Object.getPrototypeOf(o) !== Object.prototype) throw NEEDS_V8;
    const keys = Object.keys(o);
    this.byte(Kind.Object);
    this.varint(keys.length);
    for (const key of keys) {
      // Assigning '__proto__' on decode would set the prototype; v8 makes it an own property.
      if (key === '__proto__') throw NEEDS_V8;
      this.string(key);
      this.value((o as Record<string, unknown>)[key], depth + 1);
    }
  }
}

/** n (≤ 16) ASCII bytes as a string: String.fromCharCode with fixed arity is ~4× faster than a loop or toString(). */
function shortAscii(b: Buffer, i: number, n: number): string {
  const c = String.fromCharCode;
  switch (n) {
    case 0:
      return '';
    case 1:
      return c(b[i]!);
    case 2:
      return c(b[i]!, b[i + 1]!);
    case 3:
      return c(b[i]!, b[i + 1]!, b[i + 2]!);
    case 4:
      return c(b[i]!, b[i + 1]!, b[i + 2]!, b[i + 3]!);
    case 5:
      return c(b[i]!, b[i + 1]!, b[i + 2]!, b[i + 3]!, b[i + 4]!);
    case 6:
      return c(b[i]!, b[i + 1]!, b[i + 2]!, b[i + 3]!, b[i + 4]!, b[i + 5]!);
    case 7:
      return c(b[i]!, b[i + 1]!, b[i + 2]!, b[i + 3]!, b[i + 4]!, b[i + 5]!, b[i + 6]!);
    case 8:
      return c(b[i]!, b[i + 1]!, b[i + 2]!, b[i + 3]!, b[i + 4]!, b[i + 5]!, b[i + 6]!, b[i + 7]!);
    default:
      return c(b[i]!, b[i + 1]!, b[i + 2]!, b[i + 3]!, b[i + 4]!, b[i + 5]!, b[i + 6]!, b[i + 7]!) + shortAscii(b, i + 8, n - 8);
  }
}

class PlainDecoder {
  private buffer!: Buffer;
  private pos = 0;
  /** decodeFrames(): the frames FrameView entries refer to (null: none are allowed). */
  private frames: readonly Buffer[] | null = null;

  decode(buffer: Buffer, frames: readonly Buffer[] | null = null): unknown {
    this.buffer = buffer;
    this.frames = frames;
    this.pos = 1;
    const value = this.value(0);
    if (this.pos !== buffer.length) throw malformed(`${buffer.length - this.pos} bytes after the value`);
    return value;
  }

  private need(bytes: number): void {
    if (this.pos + bytes > this.buffer.length) throw malformed('truncated');
  }

  private varint(): number {
    let n = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      this.need(1);
      const b = this.buffer[this.pos++]!;
      n += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return n;
    }
    throw malformed('bad length');
  }

  private string(): string {
    const n = this.varint();
    this.need(n);
    const buffer = this.buffer;
    const start = this.pos;
    this.pos += n;
    if (n <= 16) {
      // Short ASCII by hand, as in the encoder; anything else through Buffer's UTF-8 decoder.
      for (let i = start; i < start + n; i++) if (buffer[i]! >= 0x80) return buffer.toString('utf8', start, start + n);
      return shortAscii(buffer, start, n);
    }
    return buffer.toString('utf8', start, start + n);
  }

  private value(depth: number): unknown {
    // The encoder stops at MAX_DEPTH; deeper bytes are not ours, and must not exhaust the stack.
    if (depth > MAX_DEPTH) throw malformed('nested too deep');
    this.need(1);
    const kind = this.buffer[this.pos++];
    switch (kind) {
      case Kind.Undefined:
        return undefined;
      case Kind.Null:
        return null;
      case Kind.False:
        return false;
      case Kind.True:
        return true;
      case Kind.Int32: {
        this.need(4);
        const b = this.buffer;
        const p = this.pos;
        this.pos = p + 4;
        return b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24);
      }
      case Kind.Float64: {
        this.need(8);
        for (let i = 0; i < 8; i++) float64Bytes[i] = this.buffer[this.pos + i]!;
        this.pos += 8;
        return float64[0];
      }
      case Kind.String:
        return this.string();
      case Kind.BigInt: {
        const hex = this.string();
        if (!/^-?[0-9a-f]+$/.test(hex)) throw malformed('bad bigint');
        return hex.startsWith('-') ? -BigInt(`0x${hex.slice(1)}`) : BigInt(`0x${hex}`);
      }
      case Kind.Array: {
        const length = this.varint();
        // Each element takes at least one byte: a length beyond what is left is malformed.
        this.need(length);
        const a = new Array<unknown>(length);
        for (let i = 0; i < length; i++) a[i] = this.value(depth + 1);
        return a;
      }
      case Kind.Object: {
        const count = this.varint();
        this.need(count);
        const o: Record<string, unknown> = {};
        for (let i = 0; i < count; i++) {
          const key = this.string();
          // The encoder never writes '__proto__' (it goes to v8); from other bytes it stays an own property.
          if (key === '__proto__') Object.defineProperty(o, key, { value: this.value(depth + 1), enumerable: true, writable: true, configurable: true });
          else o[key] = this.value(depth + 1);
        }
        return o;
      }
      case Kind.FrameView: {
        this.need(1);
        const type = this.buffer[this.pos++]!;
        const index = this.varint();
        const frame = this.frames?.[index];
        if (frame === undefined) throw malformed(`a view of frame ${index}, which the message does not have`);
        return viewOver(type, frame);
      }
      case Kind.InlineView: {
        this.need(1);
        const type = this.buffer[this.pos++]!;
        const bytes = this.varint();
        this.need(bytes);
        // A copy: the header is the transport's buffer, and a view must own its bytes.
        const copy = Buffer.from(this.buffer.subarray(this.pos, this.pos + bytes));
        this.pos += bytes;
        return viewOver(type, copy);
      }
      default:
        throw malformed(`unknown kind ${String(kind)} at byte ${this.pos - 1}`);
    }
  }
}

// One of each per thread. Decoding runs no user code; encoding can (a getter), and a getter that sends
// an object itself finds the encoder busy and gets v8.
const encoder = new PlainEncoder();
const decoder = new PlainDecoder();
let encoding = false;

/** The bytes sendObject() sends for `value`: the plain-data format where it applies, else v8.serialize. */
export function encodeObject(value: unknown): Buffer {
  if (!encoding) {
    encoding = true;
    try {
      return encoder.encode(value);
    } catch (error) {
      if (error !== NEEDS_V8) throw error;
    } finally {
      encoding = false;
    }
  }
  return v8.serialize(value);
}

/** The value encodeObject() encoded. Malformed bytes throw a TypeError with code ERR_UCX_MALFORMED_OBJECT. */
export function decodeObject(bytes: Buffer): unknown {
  if (bytes.length > 0 && bytes[0] === PLAIN_FORMAT) return decoder.decode(bytes);
  if (bytes.length > 0 && bytes[0] === V8_FORMAT) {
    try {
      return v8.deserialize(bytes);
    } catch (error) {
      throw malformed(`v8.deserialize: ${(error as Error).message}`, error);
    }
  }
  throw malformed(`unknown format byte ${bytes.length > 0 ? bytes[0] : '(empty message)'}`);
}

// ---- frames: views out of the header ----

/** v8's format, with ArrayBufferViews as host objects that name their frame (values the plain format cannot carry). */
class FramedSerializer extends v8.Serializer {
  readonly views: ArrayBufferView[] = [];
  constructor() {
    super();
    // Node's own switch (as v8.DefaultSerializer uses it); @types/node does not declare it.
    (this as unknown as { _setTreatArrayBufferViewsAsHostObjects(on: boolean): void })._setTreatArrayBufferViewsAsHostObjects(true);
  }
  /** v8 calls this for each ArrayBufferView (Node's Serializer hook). */
  _writeHostObject(view: object): void {
    if (!ArrayBuffer.isView(view)) throw new TypeError(`#<${(view as object).constructor?.name ?? 'Object'}> could not be cloned`);
    this.writeUint32(viewType(view));
    this.writeUint32(this.views.length);
    this.views.push(view);
  }
}

class FramedDeserializer extends v8.Deserializer {
  readonly #frames: readonly Buffer[];
  constructor(header: Buffer, frames: readonly Buffer[]) {
    super(header);
    this.#frames = frames;
  }
  /** v8 calls this for each host object written by FramedSerializer (Node's Deserializer hook). */
  _readHostObject(): ArrayBufferView {
    const type = this.readUint32();
    const frame = this.#frames[this.readUint32()];
    if (frame === undefined) throw malformed('a view of a frame the message does not have');
    return viewOver(type, frame);
  }
}

/**
 * `value` as a header frame and one frame per ArrayBufferView of FRAME_MIN_BYTES or more (the views
 * themselves: not copied, so leave them unchanged until the send completes). Smaller views are copied
 * into the header; values the plain format cannot carry go through v8's format, views still as frames.
 */
export function encodeFrames(value: unknown): Buffer[] {
  if (!encoding) {
    encoding = true;
    const views: ArrayBufferView[] = [];
    encoder.views = views;
    try {
      const header = encoder.encode(value);
      return [header, ...views.map(asFrame)];
    } catch (error) {
      if (error !== NEEDS_V8) throw error;
    } finally {
      encoder.views = null;
      encoding = false;
    }
  }
  const serializer = new FramedSerializer();
  serializer.writeHeader();
  serializer.writeValue(value);
  return [serializer.releaseBuffer(), ...serializer.views.map(asFrame)];
}

/** The value encodeFrames() made. Malformed frames throw a TypeError with code ERR_UCX_MALFORMED_OBJECT. */
export function decodeFrames(frames: readonly Buffer[]): unknown {
  const header = frames[0];
  if (header === undefined || header.length === 0) throw malformed('no header frame');
  const rest = frames.slice(1);
  if (header[0] === PLAIN_FORMAT) return decoder.decode(header, rest);
  if (header[0] !== V8_FORMAT) throw malformed(`unknown format byte ${header[0]}`);
  try {
    const deserializer = new FramedDeserializer(header, rest);
    deserializer.readHeader();
    return deserializer.readValue();
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_UCX_MALFORMED_OBJECT') throw error;
    throw malformed(`v8 format: ${(error as Error).message}`, error);
  }
}

function asFrame(view: ArrayBufferView): Buffer {
  return Buffer.isBuffer(view) ? view : Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}
