// Column expressions: what a Series is before it is computed. `df.col('a').mul(2).add(df.col('b'))`
// is a small tree of plain data, evaluated on each partition inside the task that needs it (assign,
// loc, a reduction), so that arithmetic on columns adds no task and moves no intermediate column.
// Arithmetic gives float64 (JavaScript's numbers); comparisons, isin and the logical operators bool.
import { column, isNumeric, partError, stringAt, type Column, type DType, type Field, type Part } from './part.js';

/** Operators of two operands. */
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'mod' | 'pow' | 'lt' | 'le' | 'gt' | 'ge' | 'eq' | 'ne' | 'and' | 'or';
/** Operators of one operand. */
export type UnaryOp = 'neg' | 'not' | 'abs' | 'isna' | 'notna';
/** A constant in an expression. */
export type Literal = number | string | boolean;

/** A column expression as plain data: a column, a constant, or an operator over expressions. */
export type Expr =
  | { op: 'col'; name: string }
  | { op: 'lit'; value: Literal }
  | { op: 'bin'; fn: BinaryOp; a: Expr; b: Expr }
  | { op: 'un'; fn: UnaryOp; a: Expr }
  | { op: 'isin'; a: Expr; values: Literal[] }
  | { op: 'floor'; a: Expr; step: number }
  | { op: 'astype'; a: Expr; to: DType };

const COMPARE: ReadonlySet<BinaryOp> = new Set(['lt', 'le', 'gt', 'ge', 'eq', 'ne']);
const LOGIC: ReadonlySet<BinaryOp> = new Set(['and', 'or']);

function typeError(message: string): TypeError {
  return Object.assign(new TypeError(message), { code: 'ERR_UCX_DATAFRAME_TYPE' });
}

/** The type of an expression over `fields`; throws (coded) for an unknown column or a type that does not fit. */
export function typeOf(expr: Expr, fields: readonly Field[] | null, where: string): DType | null {
  switch (expr.op) {
    case 'col': {
      if (fields === null) return null;
      const f = fields.find((x) => x.name === expr.name);
      if (f === undefined) {
        throw Object.assign(new RangeError(`no column '${expr.name}' in ${where} (columns: ${fields.map((x) => x.name).join(', ') || 'none'})`), {
          code: 'ERR_UCX_DATAFRAME_COLUMN',
        });
      }
      return f.type;
    }
    case 'lit':
      return typeof expr.value === 'string' ? 'utf8' : typeof expr.value === 'boolean' ? 'bool' : 'float64';
    case 'bin': {
      const a = typeOf(expr.a, fields, where);
      const b = typeOf(expr.b, fields, where);
      if (COMPARE.has(expr.fn)) {
        if (a !== null && b !== null && (a === 'utf8') !== (b === 'utf8')) throw typeError(`cannot compare a ${a} with a ${b} (${where})`);
        return 'bool';
      }
      if (LOGIC.has(expr.fn)) return 'bool';
      if (a === 'utf8' || b === 'utf8') throw typeError(`cannot ${expr.fn} strings (${where})`);
      return 'float64';
    }
    case 'un': {
      const a = typeOf(expr.a, fields, where);
      if (expr.fn === 'not' || expr.fn === 'isna' || expr.fn === 'notna') return 'bool';
      if (a === 'utf8') throw typeError(`cannot ${expr.fn} strings (${where})`);
      return 'float64';
    }
    case 'isin':
      typeOf(expr.a, fields, where);
      return 'bool';
    case 'floor':
      return typeOf(expr.a, fields, where);
    case 'astype':
      typeOf(expr.a, fields, where);
      return expr.to;
  }
}

/** The columns an expression reads. */
export function columnsOf(expr: Expr, into: Set<string> = new Set()): Set<string> {
  switch (expr.op) {
    case 'col':
      into.add(expr.name);
      break;
    case 'bin':
      columnsOf(expr.a, into);
      columnsOf(expr.b, into);
      break;
    case 'un':
    case 'isin':
    case 'floor':
    case 'astype':
      columnsOf(expr.a, into);
      break;
    default:
      break;
  }
  return into;
}

type Values = Float64Array | Int32Array | Uint8Array;
/** An evaluated expression: a column, or a literal not yet spread over the rows. */
type Evaluated = { kind: 'col'; col: Column } | { kind: 'lit'; value: Literal };

/** The expression's column on `part`, named `name`. */
export function evaluate(expr: Expr, part: Part, name: string): Column {
  const out = evalExpr(expr, part);
  if (out.kind === 'col') return out.col.name === name ? out.col : { ...out.col, name };
  return broadcast(out.value, part.numRows, name);
}

/** A boolean mask (1 where true) of the expression on `part`. */
export function evaluateMask(expr: Expr, part: Part): Uint8Array {
  const col = evaluate(expr, part, '__mask');
  if (col.type !== 'bool') throw partError('ERR_UCX_DATAFRAME_TYPE', part, `a filter must be boolean, not ${col.type}`, TypeError);
  return col.values as Uint8Array;
}

function broadcast(value: Literal, n: number, name: string): Column {
  if (typeof value === 'string') {
    const bytes = new TextEncoder().encode(value);
    const values = new Uint8Array(bytes.length * n);
    const offsets = new Int32Array(n + 1);
    for (let i = 0; i < n; i++) {
      values.set(bytes, i * bytes.length);
      offsets[i + 1] = (i + 1) * bytes.length;
    }
    return { name, type: 'utf8', values, offsets };
  }
  if (typeof value === 'boolean') return { name, type: 'bool', values: new Uint8Array(n).fill(value ? 1 : 0) };
  return { name, type: 'float64', values: new Float64Array(n).fill(value) };
}

function evalExpr(expr: Expr, part: Part): Evaluated {
  switch (expr.op) {
    case 'col':
      return { kind: 'col', col: column(part, expr.name) };
    case 'lit':
      return { kind: 'lit', value: expr.value };
    case 'bin':
      return binary(expr.fn, evalExpr(expr.a, part), evalExpr(expr.b, part), part);
    case 'un':
      return unary(expr.fn, evalExpr(expr.a, part), part);
    case 'isin':
      return { kind: 'col', col: isin(materialize(evalExpr(expr.a, part), part), expr.values) };
    case 'floor': {
      const a = materialize(evalExpr(expr.a, part), part);
      const v = numeric(a, part);
      const out = new Float64Array(v.length);
      const step = expr.step;
      for (let i = 0; i < v.length; i++) out[i] = Math.floor(v[i]! / step) * step;
      return { kind: 'col', col: { name: a.name, type: a.type === 'timestamp' ? 'timestamp' : 'float64', values: out } };
    }
    case 'astype':
      return { kind: 'col', col: astype(materialize(evalExpr(expr.a, part), part), expr.to, part) };
  }
}

function materialize(e: Evaluated, part: Part): Column {
  return e.kind === 'col' ? e.col : broadcast(e.value, part.numRows, '__lit');
}

function numeric(col: Column, part: Part): Values {
  if (col.type === 'utf8') throw partError('ERR_UCX_DATAFRAME_TYPE', part, `column '${col.name}' holds strings, not numbers`, TypeError);
  return col.values;
}

const ARITH: Record<string, (x: number, y: number) => number> = {
  add: (x, y) => x + y,
  sub: (x, y) => x - y,
  mul: (x, y) => x * y,
  div: (x, y) => x / y,
  // Python's modulo (the sign of the divisor), as pandas.
  mod: (x, y) => {
    const r = x % y;
    return r !== 0 && r < 0 !== y < 0 ? r + y : r;
  },
  pow: (x, y) => x ** y,
};
const CMP: Record<string, (x: number, y: number) => boolean> = {
  lt: (x, y) => x < y,
  le: (x, y) => x <= y,
  gt: (x, y) => x > y,
  ge: (x, y) => x >= y,
  eq: (x, y) => x === y,
  ne: (x, y) => x !== y,
};

function binary(fn: BinaryOp, a: Evaluated, b: Evaluated, part: Part): Evaluated {
  if (a.kind === 'lit' && b.kind === 'lit') {
    const x = a.value as number;
    const y = b.value as number;
    if (fn in ARITH) return { kind: 'lit', value: ARITH[fn]!(x, y) };
    if (fn in CMP) return { kind: 'lit', value: CMP[fn]!(x, y) };
    return { kind: 'lit', value: fn === 'and' ? Boolean(x) && Boolean(y) : Boolean(x) || Boolean(y) };
  }
  const n = part.numRows;
  const name = a.kind === 'col' ? a.col.name : (b as { col: Column }).col.name;
  const isString = (e: Evaluated): boolean => (e.kind === 'col' ? e.col.type === 'utf8' : typeof e.value === 'string');
  if (COMPARE.has(fn) && (isString(a) || isString(b))) {
    const ca = materialize(a, part);
    const cb = materialize(b, part);
    const out = new Uint8Array(n);
    const f = CMP[fn]!;
    const sa = (i: number): string => stringAt(ca, i);
    const sb = b.kind === 'lit' ? (): string => b.value as string : (i: number): string => stringAt(cb, i);
    for (let i = 0; i < n; i++) out[i] = f(sa(i) as unknown as number, sb(i) as unknown as number) ? 1 : 0;
    return { kind: 'col', col: { name, type: 'bool', values: out } };
  }
  const va = a.kind === 'col' ? numeric(a.col, part) : null;
  const vb = b.kind === 'col' ? numeric(b.col, part) : null;
  const xa = a.kind === 'lit' ? Number(a.value) : 0;
  const xb = b.kind === 'lit' ? Number(b.value) : 0;
  if (fn in ARITH) {
    const out = new Float64Array(n);
    // The common cases as plain loops (a call per element costs more than the arithmetic).
    if (va !== null && vb !== null) {
      if (fn === 'add') for (let i = 0; i < n; i++) out[i] = va[i]! + vb[i]!;
      else if (fn === 'sub') for (let i = 0; i < n; i++) out[i] = va[i]! - vb[i]!;
      else if (fn === 'mul') for (let i = 0; i < n; i++) out[i] = va[i]! * vb[i]!;
      else if (fn === 'div') for (let i = 0; i < n; i++) out[i] = va[i]! / vb[i]!;
      else {
        const f = ARITH[fn]!;
        for (let i = 0; i < n; i++) out[i] = f(va[i]!, vb[i]!);
      }
    } else if (va !== null) {
      if (fn === 'add') for (let i = 0; i < n; i++) out[i] = va[i]! + xb;
      else if (fn === 'sub') for (let i = 0; i < n; i++) out[i] = va[i]! - xb;
      else if (fn === 'mul') for (let i = 0; i < n; i++) out[i] = va[i]! * xb;
      else if (fn === 'div') for (let i = 0; i < n; i++) out[i] = va[i]! / xb;
      else {
        const f = ARITH[fn]!;
        for (let i = 0; i < n; i++) out[i] = f(va[i]!, xb);
      }
    } else {
      const f = ARITH[fn]!;
      for (let i = 0; i < n; i++) out[i] = f(xa, vb![i]!);
    }
    const type: DType =
      (a.kind === 'col' && a.col.type === 'timestamp') || (b.kind === 'col' && b.col.type === 'timestamp')
        ? fn === 'add' || fn === 'sub'
          ? 'timestamp'
          : 'float64'
        : 'float64';
    return {
      kind: 'col',
      col: {
        name,
        type: fn === 'sub' && a.kind === 'col' && b.kind === 'col' && a.col.type === 'timestamp' && b.col.type === 'timestamp' ? 'float64' : type,
        values: out,
      },
    };
  }
  const out = new Uint8Array(n);
  if (fn in CMP) {
    const f = CMP[fn]!;
    if (va !== null && vb !== null) for (let i = 0; i < n; i++) out[i] = f(va[i]!, vb[i]!) ? 1 : 0;
    else if (va !== null) {
      if (fn === 'gt') for (let i = 0; i < n; i++) out[i] = va[i]! > xb ? 1 : 0;
      else if (fn === 'lt') for (let i = 0; i < n; i++) out[i] = va[i]! < xb ? 1 : 0;
      else if (fn === 'eq') for (let i = 0; i < n; i++) out[i] = va[i]! === xb ? 1 : 0;
      else for (let i = 0; i < n; i++) out[i] = f(va[i]!, xb) ? 1 : 0;
    } else for (let i = 0; i < n; i++) out[i] = f(xa, vb![i]!) ? 1 : 0;
    return { kind: 'col', col: { name, type: 'bool', values: out } };
  }
  // and / or: truthiness (NaN is false).
  const truth = (v: Values | null, x: number, i: number): boolean => {
    const y = v === null ? x : v[i]!;
    return y !== 0 && !Number.isNaN(y);
  };
  if (fn === 'and') for (let i = 0; i < n; i++) out[i] = truth(va, xa, i) && truth(vb, xb, i) ? 1 : 0;
  else for (let i = 0; i < n; i++) out[i] = truth(va, xa, i) || truth(vb, xb, i) ? 1 : 0;
  return { kind: 'col', col: { name, type: 'bool', values: out } };
}

function unary(fn: UnaryOp, a: Evaluated, part: Part): Evaluated {
  const col = materialize(a, part);
  const n = part.numRows;
  if (fn === 'isna' || fn === 'notna') {
    const out = new Uint8Array(n);
    const want = fn === 'isna' ? 1 : 0;
    if (col.type === 'float64' || col.type === 'timestamp') {
      const v = col.values;
      for (let i = 0; i < n; i++) out[i] = Number.isNaN(v[i]) ? want : 1 - want;
    } else out.fill(1 - want);
    return { kind: 'col', col: { name: col.name, type: 'bool', values: out } };
  }
  const v = numeric(col, part);
  if (fn === 'not') {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = v[i] === 0 || Number.isNaN(v[i]) ? 1 : 0;
    return { kind: 'col', col: { name: col.name, type: 'bool', values: out } };
  }
  const out = new Float64Array(n);
  if (fn === 'neg') for (let i = 0; i < n; i++) out[i] = -v[i]!;
  else for (let i = 0; i < n; i++) out[i] = Math.abs(v[i]!);
  return { kind: 'col', col: { name: col.name, type: 'float64', values: out } };
}

function isin(col: Column, values: readonly Literal[]): Column {
  const n = col.type === 'utf8' ? col.offsets!.length - 1 : col.values.length;
  const out = new Uint8Array(n);
  if (col.type === 'utf8') {
    const set = new Set(values.filter((v) => typeof v === 'string'));
    for (let i = 0; i < n; i++) out[i] = set.has(stringAt(col, i)) ? 1 : 0;
  } else {
    const set = new Set(values.map((v) => (typeof v === 'boolean' ? Number(v) : v)).filter((v) => typeof v === 'number'));
    const v = col.values;
    for (let i = 0; i < n; i++) out[i] = set.has(v[i]!) ? 1 : 0;
  }
  return { name: col.name, type: 'bool', values: out };
}

function astype(col: Column, to: DType, part: Part): Column {
  if (col.type === to) return col;
  const n = col.type === 'utf8' ? col.offsets!.length - 1 : col.values.length;
  if (to === 'utf8') {
    const strings = new Array<string>(n);
    for (let i = 0; i < n; i++) strings[i] = col.type === 'bool' ? (col.values[i] ? 'True' : 'False') : String(col.values[i]);
    const encoder = new TextEncoder();
    const offsets = new Int32Array(n + 1);
    const parts = strings.map((s) => encoder.encode(s));
    let total = 0;
    parts.forEach((p, i) => {
      total += p.length;
      offsets[i + 1] = total;
    });
    const values = new Uint8Array(total);
    parts.forEach((p, i) => values.set(p, offsets[i]!));
    return { name: col.name, type: 'utf8', values, offsets };
  }
  if (col.type === 'utf8') {
    const out = to === 'int32' ? new Int32Array(n) : to === 'bool' ? new Uint8Array(n) : new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const s = stringAt(col, i);
      const x = to === 'timestamp' ? Date.parse(s) : Number(s);
      if (Number.isNaN(x) && s !== '' && to !== 'float64')
        throw partError('ERR_UCX_DATAFRAME_TYPE', part, `cannot read '${s}' in column '${col.name}' as ${to}`, TypeError);
      out[i] = x;
    }
    return { name: col.name, type: to, values: out };
  }
  if (!isNumeric(to)) throw partError('ERR_UCX_DATAFRAME_TYPE', part, `cannot convert ${col.type} to ${to}`, TypeError);
  const out =
    to === 'int32'
      ? Int32Array.from(col.values)
      : to === 'bool'
        ? Uint8Array.from(col.values, (x) => (x !== 0 && !Number.isNaN(x) ? 1 : 0))
        : Float64Array.from(col.values);
  return { name: col.name, type: to, values: out };
}
