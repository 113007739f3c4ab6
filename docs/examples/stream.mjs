// stream.mjs: UCP streams, an ordered byte stream per endpoint (like TCP):
// message boundaries are not kept. streamRecv resolves with whatever has
// arrived (at least 1 byte); with { waitAll: true } it fills the whole buffer.
// Here: length-prefixed framing on top of a stream.
//
// Run: node docs/examples/stream.mjs
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Context } from 'node-ucx';

const context = new Context();
const server = context.createWorker();
const client = context.createWorker();
const listener = await server.listen({ host: '127.0.0.1', port: 0 });
const [ep, [serverEp]] = await Promise.all([
  client.connect({ host: '127.0.0.1', port: listener.port }),
  once(listener, 'connection'), // the accepted Endpoint on the server side
]);

// Sender: frames of [u32 length][payload], written as several streamSend calls.
const frames = ['first', 'x'.repeat(100_000), '', 'last'];
const sending = (async () => {
  for (const text of frames) {
    const header = Buffer.alloc(4);
    header.writeUInt32LE(Buffer.byteLength(text));
    await ep.streamSend(header);
    await ep.streamSend(Buffer.from(text));
  }
})();

// Receiver: waitAll reads exactly the 4-byte header, then exactly the payload.
const received = [];
for (let i = 0; i < frames.length; i++) {
  const header = Buffer.alloc(4);
  assert.equal(await serverEp.streamRecv(header, { waitAll: true }), 4);
  const payload = Buffer.alloc(header.readUInt32LE(0));
  if (payload.length > 0) assert.equal(await serverEp.streamRecv(payload, { waitAll: true }), payload.length);
  received.push(payload.toString());
}
await sending;
assert.deepEqual(received, frames);
console.log(
  'frames:',
  received.map((text) => text.length),
);

// Without waitAll, a receive takes what is there: possibly less than asked for.
await ep.streamSend(Buffer.from('abc'));
const big = Buffer.alloc(1024);
const n = await serverEp.streamRecv(big);
assert.ok(n >= 1 && n <= 3);
console.log(`partial streamRecv: ${n} byte(s) of a 1024-byte buffer`);

await listener.close();
await client.close();
await server.close();
context.close();
