// UCP features: which a Context asks for, what it gets by default, and the check that an
// operation's feature is enabled before UCX is asked (a missing feature is a coded error,
// never a UCX assertion).
import { UCXError, Status } from '../util/errors.js';
import { invalidArgType, invalidArgValue } from '../util/validate.js';

/** A UCP feature a {@link Context} can ask for: tag matching, streams, active messages, RMA ('rma'), atomics ('amo'). */
export type Feature = 'tag' | 'stream' | 'am' | 'rma' | 'amo';

// UCP_FEATURE_* bits (ucp.h). WAKEUP is always on: the event and adaptive progress modes need it.
const FEATURE_BITS: Record<Feature, number> = { tag: 1 << 0, rma: 1 << 1, amo: (1 << 2) | (1 << 3), stream: 1 << 5, am: 1 << 6 };
const FEATURE_WAKEUP = 1 << 4;
const ALL_FEATURES = Object.keys(FEATURE_BITS) as Feature[];

/**
 * What a Context gets unless it asks: messaging, no remote memory access. RMA and atomics are opt-in:
 * on transports where UCX emulates them (TCP, shared memory) a connected peer can read and write any
 * memory of a process whose context enables them, registered or not (docs/security.md).
 */
export const DEFAULT_FEATURES: readonly Feature[] = Object.freeze(['tag', 'stream', 'am']);

/** Checks a features list; returns it without duplicates and its ucp_params.features bits. */
export function featureBits(features: unknown): { features: Feature[]; bits: number } {
  if (!Array.isArray(features)) throw invalidArgType('opts.features', 'an array', features);
  let bits = FEATURE_WAKEUP;
  for (const feature of features) {
    if (typeof feature !== 'string' || !Object.hasOwn(FEATURE_BITS, feature)) {
      throw invalidArgValue('opts.features', feature, `must contain only ${ALL_FEATURES.map((f) => `'${f}'`).join(', ')}`);
    }
    bits |= FEATURE_BITS[feature as Feature];
  }
  return { features: [...new Set(features as Feature[])], bits };
}

/** Throws ERR_UCX_FEATURE_DISABLED unless `context` was created with one of `features`. */
export function requireFeature(context: { readonly features: readonly Feature[] }, what: string, ...features: Feature[]): void {
  if (features.some((feature) => context.features.includes(feature))) return;
  const enabled = [...new Set([...context.features, ...features])].map((f) => `'${f}'`).join(', ');
  throw new UCXError(
    `${what} needs the ${features.map((f) => `'${f}'`).join(' or ')} feature, which this Context does not ` +
      `enable. RMA and atomics are opt-in: create the Context with { features: [${enabled}] } (docs/security.md says ` +
      'what a connected peer can then do)',
    'ERR_UCX_FEATURE_DISABLED',
    Status.ERR_UNSUPPORTED,
  );
}
