// NDArray: what a computed array is (Dask's numpy.ndarray): a typed array of the elements, row-major,
// its shape and dtype. Kept small: it is how results come back, and what mapBlocks functions get.
import { invalidArgType, outOfRange } from '../../util/validate.js';
import { dtypeOfView, isDType, CONSTRUCTORS, type DType, type TypedArray } from './dtype.js';

/**
 * An array in memory (NumPy's ndarray, kept small): `data` holds the elements row-major. The
 * constructor checks that `shape` has data's length of elements and that `dtype` fits its type
 * (default: the typed array's; name 'bool' for a Uint8Array of 0s and 1s).
 */
export class NDArray<T extends TypedArray = TypedArray> {
  /** The elements, row-major (C order). Shared, not copied: changing it changes the array. */
  readonly data: T;
  /** The length of each axis. */
  readonly shape: readonly number[];
  /** The element type. */
  readonly dtype: DType;

  constructor(data: T, shape: readonly number[] = [data.length], dtype?: DType) {
    const inferred = dtypeOfView(data);
    if (inferred === null) throw invalidArgType('data', 'a typed array (Float64Array, Int32Array, Uint8Array, ...)', data);
    if (dtype !== undefined && (!isDType(dtype) || !(data instanceof CONSTRUCTORS[dtype]))) {
      throw invalidArgType('dtype', `a dtype held by a ${data.constructor.name}`, dtype);
    }
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== data.length) throw outOfRange('shape', `a shape of ${data.length} elements (the data's length)`, `[${shape.join(', ')}]`);
    this.data = data;
    this.shape = Object.freeze(shape.slice());
    this.dtype = dtype ?? inferred;
  }

  /** How many axes it has. */
  get ndim(): number {
    return this.shape.length;
  }
  /** How many elements it has (data's length). */
  get size(): number {
    return this.data.length;
  }

  /** The element at `index` (one integer per axis; negative counts from the end). */
  get(...index: number[]): number {
    if (index.length !== this.shape.length) throw outOfRange('index', `${this.shape.length} indices`, index.length);
    let flat = 0;
    index.forEach((i, axis) => {
      const n = this.shape[axis]!;
      const at = i < 0 ? i + n : i;
      if (!Number.isInteger(at) || at < 0 || at >= n) throw outOfRange(`index[${axis}]`, `an integer >= ${-n} and < ${n}`, i);
      flat = flat * n + at;
    });
    return this.data[flat]!;
  }

  /** The single element of a one-element array (NumPy's item()). */
  item(): number {
    if (this.data.length !== 1) throw outOfRange('size', 'one element', this.data.length);
    return this.data[0]!;
  }

  /** Nested arrays of numbers (NumPy's tolist()). */
  toList(): unknown {
    const build = (axis: number, at: number): unknown => {
      if (axis === this.shape.length) return this.data[at];
      const n = this.shape[axis]!;
      const stride = this.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
      return Array.from({ length: n }, (_, i) => build(axis + 1, at + i * stride));
    };
    return build(0, 0);
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    const shown = this.data.length <= 8 ? Array.from(this.data).join(', ') : `${Array.from(this.data.subarray(0, 6)).join(', ')}, ...`;
    return `NDArray<${this.dtype} (${this.shape.join(', ')})> [${shown}]`;
  }
}
