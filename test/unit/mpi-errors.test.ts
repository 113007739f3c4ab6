// MPI error classes and strings (src/mpi/errors.ts), error handlers (errhandler.ts), and mpi4py's
// semantics for object reductions (op.ts): Python's operators on the lowercase collectives' values.
import { describe, it, expect } from 'vitest';
import { MPIError, getErrorClass, getErrorString, addErrorClass, addErrorCode, addErrorString, ERROR_CLASSES, ERR_LASTCODE } from '../../src/mpi/errors.js';
import { Errhandler, ERRORS_RETURN, ERRORS_ARE_FATAL, report, routeErrors } from '../../src/mpi/errhandler.js';
import { Op, SUM, PROD, MAX, MIN, LAND, LOR, LXOR, MAXLOC, MINLOC, BAND } from '../../src/mpi/op.js';

describe('error classes', () => {
  it("have Open MPI's numbers (mpi4py's MPI.ERR_* there) and strings", () => {
    expect(ERROR_CLASSES.SUCCESS).toBe(0);
    expect(ERROR_CLASSES.ERR_RANK).toBe(6);
    expect(ERROR_CLASSES.ERR_TRUNCATE).toBe(15);
    expect(ERROR_CLASSES.ERR_IO).toBe(35);
    expect(ERROR_CLASSES.ERR_WIN).toBe(53);
    expect(getErrorString(6)).toBe('MPI_ERR_RANK: invalid rank');
    for (const [name, number] of Object.entries(ERROR_CLASSES)) {
      expect(getErrorClass(number), name).toBe(number);
      expect(getErrorString(number).length, name).toBeGreaterThan(0);
    }
  });

  it("MPIError carries code, class and string; built from a class number it is mpi4py's MPI.Exception(cls)", () => {
    const e = new MPIError('ERR_MPI_TRUNCATE', 'Recv: longer than the buffer');
    expect([e.code, e.errorClass, e.getErrorClass(), e.Get_error_string()]).toEqual(['ERR_MPI_TRUNCATE', 15, 15, 'MPI_ERR_TRUNCATE: message truncated']);
    const x = new MPIError(35);
    expect([x.code, x.message, x.errorClass]).toEqual(['ERR_MPI_IO', getErrorString(35), 35]);
    expect(new MPIError('ERR_MPI_BOOTSTRAP', 'x').errorClass).toBe(ERROR_CLASSES.ERR_OTHER);
    expect(() => getErrorClass(-7)).toThrow(MPIError);
  });

  it('user classes and codes come after ERR_LASTCODE, with their own strings', () => {
    const cls = addErrorClass();
    expect(cls).toBeGreaterThan(ERR_LASTCODE);
    const code = addErrorCode(cls);
    addErrorString(code, 'my failure');
    expect([getErrorClass(code), getErrorString(code)]).toEqual([cls, 'my failure']);
    const e = new MPIError(code);
    expect([e.errorClass, e.errorCode, e.message, e.code]).toEqual([cls, code, 'my failure', 'ERR_MPI_OTHER']);
    expect(() => addErrorCode(12345)).toThrow(MPIError);
    expect(() => addErrorString(6, 'no')).toThrow(MPIError);
  });
});

describe('error handlers', () => {
  class Thing {
    errhandler: Errhandler = ERRORS_RETURN;
    fail(): never {
      throw new MPIError('ERR_MPI_RANK', 'bad rank');
    }
    async later(): Promise<void> {
      throw new MPIError('ERR_MPI_TAG', 'bad tag');
    }
    bad(): never {
      throw new TypeError('not MPI');
    }
    nested(): void {
      this.fail();
    }
  }
  routeErrors(Thing.prototype);

  it('ERRORS_RETURN: the error is thrown (or rejected) as it is', async () => {
    const t = new Thing();
    expect(() => t.fail()).toThrow(/bad rank/);
    await expect(t.later()).rejects.toMatchObject({ code: 'ERR_MPI_TAG' });
  });

  it('a user handler gets (object, error code, error) once, even through nested calls; TypeErrors skip it', async () => {
    const t = new Thing();
    const calls: [unknown, number, string][] = [];
    t.errhandler = Errhandler.create((owner: Thing, code: number, error: MPIError) => {
      calls.push([owner, code, error.code]);
    });
    expect(() => t.nested()).toThrow(MPIError);
    await expect(t.later()).rejects.toThrow(MPIError);
    expect(() => t.bad()).toThrow(TypeError);
    expect(calls).toEqual([
      [t, 6, 'ERR_MPI_RANK'],
      [t, 4, 'ERR_MPI_TAG'],
    ]);
    expect(report(t, new Error('plain'))).toBeInstanceOf(Error);
  });

  it('ERRORS_ARE_FATAL is a handler of its own kind; create() needs a function', () => {
    expect(ERRORS_ARE_FATAL.kind).toBe('fatal');
    expect(() => Errhandler.create(42 as never)).toThrow(TypeError);
  });
});

describe("object reductions with mpi4py's semantics (op.python)", () => {
  it('SUM concatenates arrays and strings, PROD repeats them, numbers add and multiply', () => {
    expect(SUM.python.apply([1, 2], [3])).toEqual([1, 2, 3]);
    expect(SUM.apply([1, 2], [3, 4])).toEqual([4, 6]);
    expect(SUM.python.apply('ab', 'c')).toBe('abc');
    expect(PROD.python.apply([0], 3)).toEqual([0, 0, 0]);
    expect(PROD.python.apply(2, 'ab')).toBe('abab');
    expect(SUM.python.apply(2, 3.5)).toBe(5.5);
    expect(SUM.python.apply(2n, 3)).toBe(5n);
    expect(SUM.python.apply(true, true)).toBe(2);
    expect(() => SUM.python.apply({ a: 1 }, { b: 2 })).toThrow(MPIError);
    expect([...(SUM.python.apply(Float64Array.of(1, 2), Float64Array.of(3, 4)) as Float64Array)]).toEqual([4, 6]);
  });

  it('MAX and MIN compare lexicographically; MAXLOC and MINLOC keep the lower index on ties', () => {
    expect(MAX.python.apply([1, 9], [2, 0])).toEqual([2, 0]);
    expect(MAX.apply([1, 9], [2, 0])).toEqual([2, 9]);
    expect(MIN.python.apply([1, 2, 3], [1, 2])).toEqual([1, 2]);
    expect(MAX.python.apply('pear', 'apple')).toBe('pear');
    expect(MAXLOC.python.apply([3, 1], [3, 0])).toEqual([3, 0]);
    expect(MINLOC.python.apply([[1, 2], 5], [[1, 3], 4])).toEqual([[1, 2], 5]);
  });

  it("LAND, LOR, LXOR use Python's truthiness (empty arrays and strings are false); BAND on ints", () => {
    expect(LAND.python.apply([], 1)).toBe(false);
    expect(LAND.apply([], 1)).toBe(true);
    expect(LOR.python.apply('', 0)).toBe(false);
    expect(LXOR.python.apply([1], {})).toBe(true);
    expect(BAND.python.apply(6, 3)).toBe(2);
    expect(() => BAND.python.apply([1], [1])).toThrow(MPIError);
  });

  it("Op.Create is mpi4py's: in place on buffers (inoutbuf = inbuf op inoutbuf), fn(x, y, null) on objects, not commutative by default", () => {
    const seen: unknown[] = [];
    const op = Op.Create((inbuf: Float64Array, inoutbuf: Float64Array, datatype: unknown) => {
      seen.push(datatype);
      for (let i = 0; i < inbuf.length; i++) inoutbuf[i] = inbuf[i]! * 10 + inoutbuf[i]!;
    });
    expect(op.commute).toBe(false);
    const inout = Float64Array.of(1, 2);
    op.reduceInto(inout, Float64Array.of(3, 4), true);
    expect([...inout]).toEqual([31, 42]);
    op.reduceInto(inout, Float64Array.of(5, 6), false);
    expect([...inout]).toEqual([315, 426]);
    const cat = Op.Create((x: string, y: string) => x + y, true);
    expect(cat.apply('a', 'b')).toBe('ab');
    const local = Float64Array.of(1, 1);
    SUM.reduceLocal(Float64Array.of(2, 3), local);
    expect([...local]).toEqual([3, 4]);
  });
});
