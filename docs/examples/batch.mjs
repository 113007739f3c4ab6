// batch.mjs: many small operations without a promise each. A Batch's operations return at
// once — true when UCX completed them inline (the buffer is free again), false when UCX still
// uses the buffer — and one wait() covers the pending ones. A TagReceiver takes every message
// that has arrived in one call, into a ring of slots; tryTagRecv and an ActiveMessageQueue
// receive synchronously. The promise API stays as it is; this is for message rate and latency.
//
// Run: node docs/examples/batch.mjs
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { setImmediate as turn } from 'node:timers/promises';
import { Context } from 'node-ucx';

const context = new Context();
const server = context.createWorker();
const client = context.createWorker();
const listener = await server.listen({ host: '127.0.0.1', port: 0 });
const [ep, [accepted]] = await Promise.all([client.connect({ host: '127.0.0.1', port: listener.port }), once(listener, 'connection')]);

// 1. 1,000 small messages, 100 per call: tagSendMany sends consecutive 8-byte slices of one
//    buffer. What UCX could not complete inline is counted by the batch; wait() settles once
//    every one of them has (and rejects with the first failure, e.g. the endpoint's error).
const batch = client.batch();
const rx = server.tagReceiver(1n, undefined, { slots: 256, slotSize: 8 });
const window = Buffer.alloc(8 * 100);
const messages = [];
const receiving = (async () => {
  for await (const got of rx) {
    // one promise per batch of arrivals, not per message
    for (let i = 0; i < got.count; i++) messages.push(got.data(i).readBigUInt64LE(0)); // views: valid until the next receive
    if (messages.length === 1000) rx.close(); // ends the loop
  }
})();
for (let k = 0; k < 10; k++) {
  for (let i = 0; i < 100; i++) window.writeBigUInt64LE(BigInt(k * 100 + i), 8 * i);
  batch.tagSendMany(ep, window, 8, 1n);
  await batch.wait(); // the window may be rewritten once its sends are done
}
await receiving;
assert.deepEqual(
  messages,
  Array.from({ length: 1000 }, (_, i) => BigInt(i)),
);
console.log('1000 messages in', 10, 'calls, received in batches, in order');

// 2. One message at a time, no promise: tagSend returns whether UCX finished with the buffer;
//    tryTagRecv returns { length, tag } once the message is there, null before.
const into = Buffer.alloc(64);
const serverBatch = server.batch(); // a batch is one worker's: its endpoints only
const done = serverBatch.tagSend(accepted, Buffer.from('ping'), 2n);
console.log('tagSend completed inline:', done);
let got = null;
while (got === null) {
  got = client.tryTagRecv(into, 2n); // progresses the worker once, then looks
  if (got === null) await turn(); // (here the sender shares our thread: let it run)
}
if (got instanceof Promise) got = await got; // a rendezvous message still arriving
assert.deepEqual(got, { length: 4, tag: 2n });
await serverBatch.wait();
console.log('tryTagRecv:', got, into.subarray(0, got.length).toString());

// 3. Active messages of one id queued for synchronous receives instead of a handler.
const queue = server.activeMessageQueue(7);
const header = Buffer.alloc(16);
batch.amSend(ep, 7, Buffer.from('hdr'), Buffer.from('payload'));
let length = null;
while (length === null) {
  length = queue.tryRecv(into, header);
  if (length === null) await turn();
}
assert.equal(into.subarray(0, length).toString(), 'payload');
assert.equal(header.subarray(0, queue.headerLength).toString(), 'hdr');
console.log('active message:', into.subarray(0, length).toString(), 'header', header.subarray(0, queue.headerLength).toString());
queue.close();

// 4. Batches settle like single operations: a forced close fails what is still pending.
const big = Buffer.alloc(4 << 20); // rendezvous: pending until the peer receives it
assert.equal(batch.tagSend(ep, big, 3n), false);
const pending = batch.wait();
await ep.close({ force: true });
await assert.rejects(pending, { code: 'ERR_UCX_CLOSED' });
console.log('a pending batch rejected with ERR_UCX_CLOSED when its endpoint closed');

await listener.close();
await client.close();
await server.close();
context.close();
