// Element types of array chunks: each dtype is a typed array, row-major. NumPy's names; bool is a
// Uint8Array of 0s and 1s. No 64-bit integers (BigInt64Array arithmetic would be a second code path
// of bigints): sums of integers are float64 (exact up to 2^53). Promotion follows NumPy's table for
// the types there are (docs/collections.md, "Array").

/** An element type (NumPy's dtype names). bool is held as a Uint8Array of 0s and 1s; there are no 64-bit integers. */
export type DType = 'float64' | 'float32' | 'int32' | 'int16' | 'int8' | 'uint32' | 'uint16' | 'uint8' | 'bool';
/** The typed arrays that hold a dtype's elements. */
export type TypedArray = Float64Array | Float32Array | Int32Array | Int16Array | Int8Array | Uint32Array | Uint16Array | Uint8Array;
type TypedArrayConstructor = {
  new (length: number): TypedArray;
  new (values: ArrayLike<number> | ArrayBufferLike, byteOffset?: number, length?: number): TypedArray;
  readonly BYTES_PER_ELEMENT: number;
};

export const CONSTRUCTORS: Readonly<Record<DType, TypedArrayConstructor>> = Object.freeze({
  float64: Float64Array,
  float32: Float32Array,
  int32: Int32Array,
  int16: Int16Array,
  int8: Int8Array,
  uint32: Uint32Array,
  uint16: Uint16Array,
  uint8: Uint8Array,
  bool: Uint8Array,
});

/** Every DType, float64 first. */
export const DTYPES: readonly DType[] = Object.keys(CONSTRUCTORS) as DType[];

export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && Object.hasOwn(CONSTRUCTORS, value);
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'float64' || dtype === 'float32';
}

export function itemSize(dtype: DType): number {
  return CONSTRUCTORS[dtype].BYTES_PER_ELEMENT;
}

/** A new zeroed typed array of `dtype`. */
export function allocate(dtype: DType, length: number): TypedArray {
  return new CONSTRUCTORS[dtype](length);
}

/** The dtype of a typed array (a Uint8Array is uint8; bool only when named); null for other views. */
export function dtypeOfView(view: unknown): DType | null {
  if (view instanceof Float64Array) return 'float64';
  if (view instanceof Float32Array) return 'float32';
  if (view instanceof Int32Array) return 'int32';
  if (view instanceof Int16Array) return 'int16';
  if (view instanceof Int8Array) return 'int8';
  if (view instanceof Uint32Array) return 'uint32';
  if (view instanceof Uint16Array) return 'uint16';
  if (view instanceof Uint8Array && !(view instanceof Uint8ClampedArray)) return 'uint8';
  return null;
}

function intInfo(dtype: DType): { signed: boolean; bits: number } {
  switch (dtype) {
    case 'bool':
      return { signed: false, bits: 1 };
    case 'int8':
      return { signed: true, bits: 8 };
    case 'uint8':
      return { signed: false, bits: 8 };
    case 'int16':
      return { signed: true, bits: 16 };
    case 'uint16':
      return { signed: false, bits: 16 };
    case 'int32':
      return { signed: true, bits: 32 };
    case 'uint32':
      return { signed: false, bits: 32 };
    default:
      throw new RangeError(`not an integer dtype: ${dtype}`);
  }
}

function intOf(signed: boolean, bits: number): DType {
  if (bits > 32) return 'float64'; // NumPy: int64; there is none here
  const size = bits <= 8 ? 8 : bits <= 16 ? 16 : 32;
  return `${signed ? '' : 'u'}int${size}` as DType;
}

/** The dtype of an operation on arrays of `a` and `b` (NumPy's promotion, int64 read as float64). */
export function promote(a: DType, b: DType): DType {
  if (a === b) return a;
  if (a === 'bool') return b;
  if (b === 'bool') return a;
  if (a === 'float64' || b === 'float64') return 'float64';
  if (a === 'float32' || b === 'float32') {
    const other = a === 'float32' ? b : a;
    return intInfo(other).bits <= 16 ? 'float32' : 'float64';
  }
  const x = intInfo(a);
  const y = intInfo(b);
  if (x.signed === y.signed) return intOf(x.signed, Math.max(x.bits, y.bits));
  const [s, u] = x.signed ? [x, y] : [y, x];
  return u.bits < s.bits ? intOf(true, s.bits) : intOf(true, u.bits * 2);
}

/**
 * The dtype of an operation on an array of `dtype` and a JS number (NumPy 2's rule for Python
 * scalars: the array's type wins, except that a fraction makes an integer array float64).
 */
export function promoteScalar(dtype: DType, scalar: number): DType {
  if (isFloat(dtype)) return dtype;
  if (!Number.isInteger(scalar)) return 'float64';
  return dtype === 'bool' ? 'int32' : dtype;
}

/** The dtype of sqrt, exp, log, true division and means: float32 stays, everything else is float64. */
export function floatOf(dtype: DType): DType {
  return dtype === 'float32' ? 'float32' : 'float64';
}

// ---- .npy descriptors ----

const NPY: Readonly<Record<string, DType>> = Object.freeze({
  '<f8': 'float64',
  '<f4': 'float32',
  '<i4': 'int32',
  '<i2': 'int16',
  '|i1': 'int8',
  '<u4': 'uint32',
  '<u2': 'uint16',
  '|u1': 'uint8',
  '|b1': 'bool',
});

/** The dtype of a .npy descriptor ('<f8'), or null for one this module cannot hold. */
export function dtypeOfDescr(descr: string): DType | null {
  const normalized = descr.replace(/^=/, '<').replace(/^<([iub]1)$/, '|$1');
  return NPY[normalized] ?? null;
}

export function descrOf(dtype: DType): string {
  for (const [descr, d] of Object.entries(NPY)) if (d === dtype) return descr;
  throw new RangeError(`no .npy descriptor for ${dtype}`);
}
