// tag.mjs: raw UCP tag matching. Tags are 63-bit bigints chosen by you; a
// receive names a tag and a mask (which bits must match), and receives are
// posted on the Worker, so they match messages from any endpoint. Shows exact
// and masked receives, tagRecvMessage (size unknown), tagProbe, synchronous
// sends, and the reserved bit 63.
//
// Run: node docs/examples/tag.mjs
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Context, MAX_TAG } from 'node-ucx';

const context = new Context();
const server = context.createWorker();
const client = context.createWorker();
const listener = await server.listen({ host: '127.0.0.1', port: 0 });
const [ep, [accepted]] = await Promise.all([client.connect({ host: '127.0.0.1', port: listener.port }), once(listener, 'connection')]);

// A tag layout of our own: a 16-bit "kind" above a 32-bit sequence number.
const tag = (kind, seq) => (BigInt(kind) << 32n) | BigInt(seq);
const KIND = 0xffffn << 32n; // mask: match the kind, any sequence number

// 1. Exact match. Post the receive first: large (rendezvous) sends complete
//    only once the receiver has posted a matching receive.
const exact = server.tagRecv(Buffer.alloc(64), tag(1, 7));
await ep.tagSend(Buffer.from('seven'), tag(1, 7));
const got = await exact;
assert.deepEqual(got, { length: 5, tag: tag(1, 7) });
console.log('exact:', got);

// 2. Masked receives: any message of kind 2, whatever its sequence number.
//    The resolved tag says which one arrived. Receives match in posting order.
const masked = [0, 1, 2].map(() => server.tagRecv(Buffer.alloc(64), tag(2, 0), KIND));
for (const seq of [30, 10, 20]) await ep.tagSend(Buffer.from(`seq ${seq}`), tag(2, seq));
const seqs = (await Promise.all(masked)).map((r) => Number(r.tag & 0xffffffffn));
assert.deepEqual(seqs, [30, 10, 20]);
console.log('masked: sequence numbers in arrival order', seqs);

// 3. tagRecvMessage: the size is unknown, node-ucx allocates the Buffer. 256 KiB
//    is above the rendezvous threshold, so the send completes when this receive runs.
const whole = server.tagRecvMessage(tag(3, 0), KIND);
await ep.tagSend(Buffer.alloc(256 * 1024, 0xab), tag(3, 99));
const message = await whole;
assert.equal(message.data.length, 256 * 1024);
assert.equal(message.tag, tag(3, 99));
console.log('tagRecvMessage:', message.data.length, 'bytes, tag', message.tag);

// 4. tagProbe: has a matching message arrived? It stays queued until received.
await ep.tagSend(Buffer.from('probe me'), tag(4, 1));
let probe = null;
for (let i = 0; i < 1000 && probe === null; i++) {
  probe = server.tagProbe(tag(4, 0), KIND); // progresses the worker, then looks
  if (probe === null) await new Promise((resolve) => setTimeout(resolve, 1));
}
assert.deepEqual(probe, { length: 8, tag: tag(4, 1) });
const probed = Buffer.alloc(probe.length);
const received = await server.tagRecv(probed, probe.tag);
assert.deepEqual(received, { length: 8, tag: tag(4, 1) });
assert.equal(probed.toString(), 'probe me');
console.log('tagProbe:', probe, '->', probed.toString());

// 5. A synchronous send completes only once the receiver has matched it.
let matched = false;
const sync = ep.tagSend(Buffer.from('sync'), tag(5, 1), { sync: true }).then(() => {
  matched = true;
});
await new Promise((resolve) => setTimeout(resolve, 50));
assert.equal(matched, false);
await server.tagRecv(Buffer.alloc(8), tag(5, 1));
await sync;
console.log('sync send: completed after the receive matched');

// 6. Bit 63 belongs to endpoint-scoped messages (ep.send/recv): raw tags must be
//    below 2^63, and even a wildcard raw receive (mask 0n) never takes them.
await assert.rejects(ep.tagSend(Buffer.from('x'), MAX_TAG + 1n), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
const wildcard = server.tagRecv(Buffer.alloc(64), 0n, 0n);
await ep.send(Buffer.from('endpoint-scoped')); // not for the wildcard...
await ep.tagSend(Buffer.from('raw'), tag(6, 1)); // ...this one is
assert.deepEqual(await wildcard, { length: 3, tag: tag(6, 1) });
assert.equal((await accepted.recvMessage()).toString(), 'endpoint-scoped'); // it waited for its endpoint
console.log('wildcard raw receive skipped the endpoint-scoped message');

await listener.close();
await client.close();
await server.close();
context.close();
