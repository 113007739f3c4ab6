// active-messages.mjs: UCP active messages. The receiving Worker registers a
// handler per id (0 ... 65534; 65535 is node-ucx's own); a message carries a
// header and a payload. Small payloads go eager; large ones (or any with
// { rendezvous: true }) by rendezvous, and node-ucx fetches the whole payload
// before the handler runs. With { reply: true } the handler gets a reply
// endpoint back to the sender's worker.
//
// Run: node docs/examples/active-messages.mjs
import assert from 'node:assert/strict';
import { Context } from 'node-ucx';

const REQUEST = 1;
const RESPONSE = 2;

const context = new Context();
const server = context.createWorker();
const client = context.createWorker();

let headerOnlySeen;
const headerOnly = new Promise((resolve) => {
  headerOnlySeen = resolve;
});

// Server: answer every request on the reply endpoint with the payload's byte sum.
server.onActiveMessage(REQUEST, async (msg) => {
  let sum = 0;
  for (const byte of msg.data) sum += byte;
  console.log(`server: id ${msg.id}, header "${msg.header}", ${msg.length} bytes, reply endpoint: ${msg.reply !== null}`);
  if (msg.reply === null) return headerOnlySeen();
  const answer = Buffer.alloc(8);
  answer.writeBigUInt64LE(BigInt(sum));
  await msg.reply.amSend(RESPONSE, msg.header, answer); // a rejection here would reach server's 'error' event
});
server.on('error', (error) => {
  console.error('handler failed:', error);
  process.exitCode = 1;
});

// Client: collect responses by header.
const waiting = new Map();
client.onActiveMessage(RESPONSE, (msg) => {
  waiting.get(msg.header.toString())?.(msg.data.readBigUInt64LE(0));
});
function call(ep, name, payload, opts = {}) {
  const answered = new Promise((resolve) => waiting.set(name, resolve));
  return ep.amSend(REQUEST, Buffer.from(name), payload, { ...opts, reply: true }).then(() => answered);
}

const listener = await server.listen({ host: '127.0.0.1', port: 0 });
const ep = await client.connect({ host: '127.0.0.1', port: listener.port });

// Eager: small, in one go; the send may complete before the handler ran.
assert.equal(await call(ep, 'small', Buffer.from([1, 2, 3])), 6n);
// Rendezvous: 4 MiB; the handler sees all of it in msg.data.
assert.equal(await call(ep, 'large', Buffer.alloc(4 << 20, 1)), BigInt(4 << 20));
// Rendezvous can be forced for a small payload too (and eager for a large one: { eager: true }).
assert.equal(await call(ep, 'forced', Buffer.from([200]), { rendezvous: true }), 200n);
// Header only, no payload and no reply.
await ep.amSend(REQUEST, Buffer.from('no reply'), null);
await headerOnly;

// { allocate }: rendezvous payloads land in a buffer the handler chooses (here one reused buffer;
// device memory works too) instead of a new Buffer per message. msg.target is that buffer and
// msg.data views its first msg.length bytes; eager payloads still arrive in a new Buffer.
const BULK = 3;
const landing = Buffer.alloc(8 << 20);
const bulk = new Promise((resolve) => {
  server.onActiveMessage(BULK, (msg) => resolve({ same: msg.target === landing, length: msg.length, first: msg.data[0] }), { allocate: (length) => landing });
});
await ep.amSend(BULK, null, Buffer.alloc(2 << 20, 7), { rendezvous: true });
console.log('bulk:', await bulk);

// Remove a handler with null. (UCX logs a warning for messages to an id without a handler.)
client.onActiveMessage(RESPONSE, null);
console.log('done');

await listener.close();
await client.close();
await server.close();
context.close();
