// Settings objects (core's `defaults`, `transportDefaults`, ...): plain-looking objects whose
// properties check what is assigned to them, so that a bad value fails where it is set, with
// Node's kind of error, instead of much later (a poll slice of 1e12 µs blocks the loop for
// good; a timeout of 'abc' fires at once). The object is sealed: a misspelt name throws.
import { invalidArgType, invalidArgValue, validateInteger, validateObject } from './validate.js';

export type SettingCheck = (value: unknown, name: string) => void;

/** `initial` with each property guarded by its check; `prefix` names them in errors ('defaults'). */
export function defineSettings<T extends object>(prefix: string, initial: T, checks: { [K in keyof T]: SettingCheck }): T {
  const values = { ...initial } as Record<string, unknown>;
  const settings = {} as T;
  for (const key of Object.keys(initial)) {
    const check = (checks as Record<string, SettingCheck>)[key]!;
    const name = `${prefix}.${key}`;
    check(values[key], name);
    Object.defineProperty(settings, key, {
      enumerable: true,
      get: () => values[key],
      set: (value: unknown) => {
        check(value, name);
        values[key] = value;
      },
    });
  }
  return Object.seal(settings);
}

/** An integer in [min, max] (milliseconds, microseconds, counts). */
export function integerIn(min: number, max: number): SettingCheck {
  return (value, name) => validateInteger(value, name, min, max);
}

/** One of a few strings. */
export function oneOf(...choices: string[]): SettingCheck {
  return (value, name) => {
    if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
    if (!choices.includes(value)) throw invalidArgValue(name, value, `must be ${choices.map((c) => `'${c}'`).join(', ')}`);
  };
}

/** A plain object of string values (UCX options). */
export function stringRecord(value: unknown, name: string): void {
  validateObject(value, name);
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry !== 'string') throw invalidArgType(`${name}.${key}`, 'of type string', entry);
  }
}

/** The longest delay setTimeout takes (ms): beyond it Node fires at once. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;
