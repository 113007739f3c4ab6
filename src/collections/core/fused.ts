// The kernel of fused tasks (optimize.ts): a chain of tasks run one after another in one task, each
// step taking the one before it's result, so a map-filter-map pipeline is one task per partition and
// its intermediate partitions never leave the thread that makes them.
import { moduleFunction } from '../../scheduler/code.js';
import { isTask } from '../../scheduler/graph.js';
import { callable } from '../../scheduler/local/index.js';

/** The marker that stands for an earlier step's result inside a fused step's arguments. */
export const STEP_MARK = '\u0000step';
export interface StepRef {
  readonly [STEP_MARK]: number;
}

/** What a fused task carries: the original keys (for errors) and their tasks, [fn, ...args] each. */
export interface FusedSpec {
  keys: string[];
  steps: unknown[][];
}

export const fusedKernel = moduleFunction(import.meta.url, 'runFused');

/** Whether a graph value is a fused task ([runFused, spec]). */
export function isFusedTask(value: unknown): value is [typeof fusedKernel, FusedSpec] {
  return isTask(value) && value.length === 2 && isFusedKernel(value[0]);
}

export function isFusedKernel(fn: unknown): boolean {
  return (
    typeof fn === 'object' &&
    fn !== null &&
    (fn as { module?: unknown }).module === fusedKernel.module &&
    (fn as { export?: unknown }).export === fusedKernel.export
  );
}

export function stepRef(index: number): StepRef {
  return { [STEP_MARK]: index };
}

function isStepRef(value: unknown): value is StepRef {
  return typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>)[STEP_MARK] === 'number' && Object.keys(value).length === 1;
}

/**
 * Runs the steps in order; a step's arguments name the previous step's result by stepRef(i - 1)
 * (the optimizer makes only such chains, so only the previous result is kept). A step that throws
 * fails the task with its error, its message saying which of the fused keys it was.
 */
export async function runFused(spec: FusedSpec): Promise<unknown> {
  let previous: unknown;
  for (let i = 0; i < spec.steps.length; i++) {
    const [fn, ...args] = spec.steps[i]!;
    try {
      const resolved = i === 0 ? args : (withStepResult(args, i - 1, previous) as unknown[]);
      previous = await (await callable(fn))(...resolved);
    } catch (error) {
      throw i === spec.steps.length - 1 ? error : annotated(error, spec.keys[i]!, spec.keys[spec.keys.length - 1]!);
    }
  }
  return previous;
}

/** `args` with each stepRef(index) replaced by `value` (only the arrays and objects holding one are copied). */
function withStepResult(args: unknown, index: number, value: unknown): unknown {
  if (typeof args !== 'object' || args === null || ArrayBuffer.isView(args)) return args;
  if (isStepRef(args)) {
    if (args[STEP_MARK] !== index) throw new RangeError(`a fused step refers to step ${args[STEP_MARK]}, not to the one before it (${index})`);
    return value;
  }
  if (Array.isArray(args)) {
    let out: unknown[] | null = null;
    for (let i = 0; i < args.length; i++) {
      const replaced = withStepResult(args[i], index, value);
      if (replaced !== args[i]) (out ??= args.slice())[i] = replaced;
    }
    return out ?? args;
  }
  if (Object.getPrototypeOf(args) !== Object.prototype) return args;
  let out: Record<string, unknown> | null = null;
  for (const [k, v] of Object.entries(args)) {
    const replaced = withStepResult(v, index, value);
    if (replaced !== v) (out ??= { ...(args as Record<string, unknown>) })[k] = replaced;
  }
  return out ?? args;
}

/** The error, its message (and the stack's first line) naming the step's own key. */
function annotated(error: unknown, stepKey: string, taskKey: string): unknown {
  const note = ` (in '${stepKey}', fused into '${taskKey}')`;
  if (!(error instanceof Error)) return new Error(`a non-Error was thrown: ${String(error)}${note}`);
  // Read first: V8 formats a stack when first read, with the message of that moment.
  const stack = error.stack;
  const header = `${error.name}: ${error.message}`;
  error.message += note;
  if (typeof stack === 'string' && stack.startsWith(header)) error.stack = `${error.name}: ${error.message}${stack.slice(header.length)}`;
  return error;
}
