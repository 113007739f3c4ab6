// RMA and atomics in one process: a listener owns a memory region and hands its
// rkey to the connecting side over an endpoint message; the client then writes,
// reads and counts in that memory without the owner's code taking part.
//   node docs/examples/rma.mjs
// Between two processes (or machines) it is the same code split in two: the
// owner does memMap/packRkey/sendObject, the client recvObject/unpackRkey/put.
import { Context } from 'node-ucx';

const context = new Context({ features: ['tag', 'stream', 'am', 'rma', 'amo'] }); // RMA and atomics are opt-in
const worker = context.createWorker();

// ---- the owner: map a region and send { address, length, rkey } to whoever connects ----
const region = context.memMap({ length: 4096 }); // host memory, zero-filled; region.buffer views it
const listener = await worker.listen({ host: '127.0.0.1', port: 0 }, (ep) => {
  void ep.sendObject({ address: region.address, length: region.length, rkey: region.packRkey() });
});

// ---- the client: connect, receive the key, unpack it on this endpoint ----
const ep = await worker.connect({ host: '127.0.0.1', port: listener.port });
const { address, length, rkey: packed } = await ep.recvObject();
const rkey = ep.unpackRkey(packed);
console.log(`remote region: ${length} bytes at 0x${address.toString(16)}`);

// put: resolves once our buffer may be reused; flush() makes it complete at the owner.
await ep.put(Buffer.from('hello, remote memory'), address, rkey);
await ep.flush();
console.log('owner sees:', region.buffer.toString('latin1', 0, 20));

// get: resolves when the bytes are in our buffer.
region.buffer.write('written by the owner', 100, 'latin1');
const back = Buffer.alloc(20);
await ep.get(back, address + 100n, rkey);
console.log('client read:', back.toString('latin1'));

// fence: the flag put after it lands after the data put before it.
await ep.put(Buffer.from('payload'), address + 200n, rkey);
ep.fence();
const flag = Buffer.alloc(8);
flag.writeBigUInt64LE(1n);
await ep.put(flag, address + 256n, rkey);
await ep.flush();
console.log('flag', region.buffer.readBigUInt64LE(256), 'data', region.buffer.toString('latin1', 200, 207));

// atomics: 2000 fetch-adds on a 64-bit counter, 16 in flight at a time; each returns the old value.
const counter = address + 512n;
let issued = 0;
const seen = new Set();
async function lane() {
  while (issued < 2000) {
    issued++;
    seen.add(await ep.atomic('fadd', counter, rkey, 1n));
  }
}
await Promise.all(Array.from({ length: 16 }, lane));
console.log(`counter = ${region.buffer.readBigUInt64LE(512)} (${seen.size} distinct old values)`);

// compareSwap: succeeds only when the word holds the expected value; always returns the old value.
console.log('cswap 2000 -> 7 returned', await ep.compareSwap(counter, rkey, 2000n, 7n));
console.log('cswap 2000 -> 9 returned', await ep.compareSwap(counter, rkey, 2000n, 9n), '(no swap)');
// 32-bit atomics and negative operands (two's complement): 7 + -10 = 0xfffffffd in the low word.
console.log('fadd -10 (32-bit) returned', await ep.atomic('fadd', counter, rkey, -10n, { size: 4 }), 'now', region.buffer.readUInt32LE(512).toString(16));

// Accesses outside the region, or misaligned atomics, are refused before anything is sent.
try {
  await ep.put(Buffer.alloc(16), address + BigInt(length) - 8n, rkey);
} catch (error) {
  console.log('refused:', error.code);
}
try {
  await ep.atomic('fadd', address + 4n, rkey, 1n); // 8-byte atomic on a 4-byte boundary
} catch (error) {
  console.log('refused:', error.code);
}

// A region UCX allocates ({ allocator: 'ucx' }): on one host a shared-memory segment the peer's UCX
// maps and copies to directly (several times faster puts and gets between processes). It has no
// JS view, since unmap() frees it; read() and write() copy.
const shared = context.memMap({ length: 1 << 20, allocator: 'ucx' });
const sharedKey = ep.unpackRkey(shared.packRkey()); // in real use the key travels like the one above
await ep.put(Buffer.from('into UCX memory'), shared.address, sharedKey);
await ep.flush();
console.log('UCX-allocated region holds:', shared.read(0, 15).toString('latin1'), '(buffer:', shared.buffer, ')');
sharedKey.destroy();
shared.unmap();

// Clean up: keys die with their endpoint; close the client side first, then the worker.
rkey.destroy();
await ep.close();
await worker.close();
region.unmap();
context.close();
