// NumPy's .npy format (numpy.lib.format): a magic string, a version, a header (a Python dict literal:
// descr, fortran_order, shape) padded to a multiple of 64 bytes, then the elements. Read and written
// here for C-order arrays of the dtypes of dtype.ts, little-endian.
import fs from 'node:fs';
import { arrayError, formatShape } from './chunks.js';
import { descrOf, dtypeOfDescr, itemSize, type DType } from './dtype.js';

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

export interface NpyHeader {
  dtype: DType;
  shape: number[];
  dataOffset: number;
}

/** The header of a .npy file: what it holds and where its data starts. Throws ERR_UCX_ARRAY_NPY naming the file. */
export function readNpyHeader(file: string): NpyHeader {
  const bad = (why: string): Error => arrayError(`'${file}' is not a .npy file this module can read: ${why}`, 'ERR_UCX_ARRAY_NPY');
  const fd = fs.openSync(file, 'r');
  let head: Buffer;
  let size: number;
  try {
    size = fs.fstatSync(fd).size;
    const prelude = Buffer.alloc(12);
    fs.readSync(fd, prelude, 0, 12, 0);
    if (!prelude.subarray(0, 6).equals(MAGIC)) throw bad('no \\x93NUMPY magic string');
    const major = prelude[6]!;
    if (major < 1 || major > 3) throw bad(`format version ${major}.${prelude[7]}`);
    const [start, length] = major === 1 ? [10, prelude.readUInt16LE(8)] : [12, prelude.readUInt32LE(8)];
    head = Buffer.alloc(length);
    fs.readSync(fd, head, 0, length, start);
    const text = head.toString(major === 3 ? 'utf8' : 'latin1');
    const descr = /'descr'\s*:\s*'([^']+)'/.exec(text)?.[1];
    const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
    const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
    if (descr === undefined || fortran === undefined || shapeText === undefined) throw bad(`a header without descr, fortran_order and shape: ${text.trim()}`);
    const dtype = dtypeOfDescr(descr);
    if (dtype === null) throw bad(`dtype '${descr}' (readable: <f8, <f4, <i4, <i2, |i1, <u4, <u2, |u1, |b1)`);
    if (fortran === 'True') throw bad('Fortran order (save it with np.ascontiguousarray)');
    const shape = shapeText
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '')
      .map(Number);
    if (shape.some((n) => !Number.isInteger(n) || n < 0)) throw bad(`shape (${shapeText})`);
    const dataOffset = start + length;
    const needed = dataOffset + shape.reduce((a, b) => a * b, 1) * itemSize(dtype);
    if (size < needed) throw bad(`${size} bytes, and shape ${formatShape(shape)} of ${dtype} needs ${needed}: the file is truncated`);
    return { dtype, shape, dataOffset };
  } finally {
    fs.closeSync(fd);
  }
}

/** The header of a version 1.0 .npy file of `dtype` and `shape` (C order), padded to 64 bytes. */
export function npyHeader(dtype: DType, shape: readonly number[]): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${descrOf(dtype)}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = 10 + dict.length + 1;
  dict += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = Buffer.alloc(10 + dict.length);
  MAGIC.copy(out, 0);
  out[6] = 1;
  out[7] = 0;
  out.writeUInt16LE(dict.length, 8);
  out.write(dict, 10, 'latin1');
  return out;
}
