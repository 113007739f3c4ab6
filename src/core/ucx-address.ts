// Checks a UCX worker address from a peer before ucp_ep_create sees it (UCX 1.13 parses it without
// a length and asserts on what it does not expect). Placeholder: length bounds only, until the full
// structural check lands.
import { UCXError, Status } from '../util/errors.js';

/** Throws UCS_ERR_INVALID_ADDR unless `bytes` is a worker address this UCX can parse safely. */
export function checkWorkerAddress(bytes: Uint8Array): void {
  if (bytes.byteLength < 9 || bytes.byteLength > 65536) {
    throw new UCXError(`not a UCX worker address: ${bytes.byteLength} bytes`, 'UCS_ERR_INVALID_ADDR', Status.ERR_INVALID_ADDR);
  }
}
