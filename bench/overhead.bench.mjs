// Per-call overheads of the binding, measured with tinybench in one process over UCX's
// `self` transport (errorHandling 'none', poll mode), so what is timed is node-ucx's own
// cost: validation, the N-API crossing, promise creation and completion delivery.
//   node bench/overhead.bench.mjs          (after `npm run build`)
import { Bench } from 'tinybench';
import { Context } from 'node-ucx';

const context = new Context();
const worker = context.createWorker({ progress: 'poll', errorHandling: 'none' });
const ep = await worker.connect({ address: worker.address });
const small = Buffer.alloc(8);
const big = Buffer.alloc(64 << 10);

const bench = new Bench({ time: 1000, warmupTime: 200 });
bench
  .add('worker.progress() (one N-API crossing, nothing to do)', () => {
    worker.progress();
  })
  .add('tagProbe miss', () => {
    worker.tagProbe(999n);
  })
  .add('tagSend 8 B (inline completion) + matching tagRecv', async () => {
    await ep.tagSend(small, 1n);
    await worker.tagRecv(small, 1n);
  })
  .add('tagRecv posted first (pending promise) + tagSend 8 B', async () => {
    const received = worker.tagRecv(small, 2n);
    await ep.tagSend(small, 2n);
    await received;
  })
  .add('tagSend 64 KiB + tagRecv', async () => {
    const received = worker.tagRecv(big, 3n);
    await ep.tagSend(big, 3n);
    await received;
  })
  .add('ep.send + ep.recv 8 B (endpoint-scoped)', async () => {
    const received = ep.recv(small);
    await ep.send(small);
    await received;
  })
  .add('ep.sendObject + recvObject { a: 1, b: "x" }', async () => {
    const received = ep.recvObject();
    await ep.sendObject({ a: 1, b: 'x' });
    await received;
  });

await bench.run();
console.table(bench.table());
await worker.close();
context.close();
