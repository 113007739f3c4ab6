// NODE_DEBUG=ucx: Node's util.debuglog for node-ucx (connects, handshakes, closes, errors, which
// addon binary was loaded). Costs one boolean check per call site when off.
import { debuglog } from 'node:util';

/** Writes `UCX <pid>: <message>` to stderr when NODE_DEBUG contains 'ucx'. */
export const debug = debuglog('ucx');
