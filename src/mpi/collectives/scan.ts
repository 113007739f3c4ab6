// Prefix reductions (scan, exscan) by recursive doubling, written once for objects and typed arrays.
import type { CollectiveCall } from './call.js';
import type { Values } from './values.js';

/**
 * At the step with `mask` this rank swaps `partial` (op over a contiguous run of ranks that includes
 * this one) with rank ^ mask; what comes from a lower rank also joins `result`. `haveResult`: whether
 * `result` already holds a value (false for exscan: it starts empty). Returns the result.
 */
export async function scanDoubling<V>(call: CollectiveCall, values: Values<V>, partial: V, result: V, haveResult: boolean): Promise<V> {
  const { rank, size } = call;
  for (let mask = 1; mask < size; mask <<= 1) {
    const partner = rank ^ mask;
    if (partner >= size) continue;
    const [other] = await Promise.all([values.recv(partner), values.send(partner, partial)]);
    if (partner < rank) {
      partial = values.combine(partial, other, true);
      result = haveResult ? values.combine(result, other, true) : values.adopt(result, other);
      haveResult = true;
    } else {
      partial = values.combine(partial, other, false);
    }
  }
  return result;
}
