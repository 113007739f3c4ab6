// P9: memory stays flat over 1 M messages. Round-trips 8-byte endpoint messages with an echo
// peer process (test/fixtures/peer.mjs) and prints RSS and heap every 100k messages as JSON lines.
//   node bench/memory.bench.mjs [messages=1000000] [progress=poll] [errorHandling=none]
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Context } from 'node-ucx';

const [total = 1_000_000, mode = 'poll', errorHandling = 'none'] = process.argv.slice(2).map((a, i) => (i === 0 ? Number(a) : a));
const peer = fork(fileURLToPath(new URL('../test/fixtures/peer.mjs', import.meta.url)), [mode, errorHandling], {
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
const ready = await new Promise((resolve) => peer.once('message', resolve));
peer.send({ cmd: 'echoAll', id: 1 });
const context = new Context();
const worker = context.createWorker({ progress: mode, errorHandling });
const ep = await worker.connect({ host: '127.0.0.1', port: ready.port });
const message = Buffer.alloc(8);
const reply = Buffer.alloc(8);
const sample = (sent) => {
  globalThis.gc?.();
  const { rss, heapUsed } = process.memoryUsage();
  console.log(JSON.stringify({ messages: sent, rssMiB: +(rss / 1048576).toFixed(1), heapMiB: +(heapUsed / 1048576).toFixed(1) }));
};
const started = Date.now();
for (let i = 0; i < total; i++) {
  if (i % 100_000 === 0) sample(i);
  const received = ep.recv(reply);
  await ep.send(message);
  await received;
}
sample(total);
console.log(JSON.stringify({ seconds: (Date.now() - started) / 1000, progress: mode, errorHandling }));
await worker.close();
context.close();
peer.kill();
