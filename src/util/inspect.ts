// util.inspect of node-ucx's objects: a short summary (state, peer, transports) instead of the
// EventEmitter internals and the object graph behind them.
import type { InspectOptionsStylized, inspect as inspectFn } from 'node:util';

/** `Name { field: value, ... }` with Node's own formatting (colours, depth) for the fields. */
export function summary(name: string, fields: Record<string, unknown>, depth: number, options: InspectOptionsStylized, inspect: typeof inspectFn): string {
  if (depth < 0) return options.stylize(`[${name}]`, 'special');
  const shown = Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
  return `${name} ${inspect(shown, { ...options, depth: options.depth === null ? null : (options.depth ?? 2) - 1, breakLength: Infinity })}`;
}
