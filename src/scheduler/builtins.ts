// Functions every worker has, referenced by module (moduleFunction): the tasks a client makes itself
// (a graph's literal values, a scattered value's placeholder) and small helpers graphs use.

/** A task whose result is its argument: a graph's literal value. */
export function identity(value: unknown): unknown {
  return value;
}

/** Element `index` of a list (or property of an object): a piece of a task's result. */
export function getitem(value: unknown, index: number | string): unknown {
  return (value as Record<string | number, unknown>)[index];
}

/** Its arguments as a list: a task that gathers results into one. */
export function list(...values: unknown[]): unknown[] {
  return values;
}
