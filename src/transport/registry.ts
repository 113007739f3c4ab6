// Transports by URL scheme: a layer that is handed 'ucx://host:port' or
// 'tcp://host:port' picks the transport with transportFor(url).
import { parseAddress, type Transport } from './types.js';
import { invalidArgType } from '../util/validate.js';

const registry = new Map<string, Transport | (() => Transport)>();

/** Makes `transport` (or a factory called on first use) the one for `scheme` ('ucx', 'tcp', ...). Replaces an earlier one. */
export function registerTransport(scheme: string, transport: Transport | (() => Transport)): void {
  if (typeof scheme !== 'string' || !/^[a-z][a-z0-9+.-]*$/.test(scheme)) {
    throw invalidArgType('scheme', "a URL scheme without the colon, like 'ucx'", scheme);
  }
  if (typeof transport !== 'function' && (typeof transport !== 'object' || transport === null || typeof transport.connect !== 'function')) {
    throw invalidArgType('transport', 'a Transport or a function returning one', transport);
  }
  registry.set(scheme, transport);
}

/** The schemes with a registered transport. */
export function registeredSchemes(): string[] {
  return [...registry.keys()];
}

/** The transport for `url`'s scheme (or for a bare scheme name). */
export function transportFor(url: string | URL): Transport {
  const scheme = typeof url === 'string' && /^[a-z][a-z0-9+.-]*$/.test(url) ? url : parseAddress(url).scheme;
  const entry = registry.get(scheme);
  if (entry === undefined) {
    throw Object.assign(new TypeError(`No transport is registered for '${scheme}:' (registered: ${registeredSchemes().join(', ')})`), {
      code: 'ERR_INVALID_URL_SCHEME',
    });
  }
  if (typeof entry === 'function') {
    const made = entry();
    registry.set(scheme, made);
    return made;
  }
  return entry;
}
