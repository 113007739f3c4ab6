// Ports (src/mpi/port.ts) in one process over real TCP: names are checked, the token is proved and never
// sent, and bytes from a peer that does not hold it are dropped while the port keeps serving.
import { describe, it, expect, afterEach } from 'vitest';
import net from 'node:net';
import { Port, connectPort, parsePortName } from '../../src/mpi/port.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function port(): Promise<Port> {
  const p = await Port.open(true);
  cleanup.push(() => p.close());
  return p;
}

describe('ports', () => {
  it('port names: what they carry, and what is refused with ERR_MPI_ARG', () => {
    const token = 'ab'.repeat(24);
    expect(parsePortName(`node-ucx-port:tcp://10.0.0.1:5000,tcp://[::1]:5000/${token}`)).toEqual({ urls: ['tcp://10.0.0.1:5000', 'tcp://[::1]:5000'], token });
    for (const bad of [
      null,
      42,
      '',
      'tcp://h:1',
      `node-ucx-port:/${token}`,
      `node-ucx-port:tcp://h:1/short`,
      `node-ucx-port:http://h:1/${token}`,
      `node-ucx-port:tcp://h:1/${token.toUpperCase()}`,
    ]) {
      expect(() => parsePortName(bad), String(bad)).toThrow(expect.objectContaining({ code: 'ERR_MPI_ARG' }));
    }
  });

  it('a connector with the token gets a link, the groups are exchanged; a wrong token is refused; the token is not on the wire', async () => {
    const p = await port();
    const seen: Buffer[] = [];
    const { urls, token } = parsePortName(p.name);
    const target = new URL(urls[0]!.replace('tcp:', 'http:'));
    const proxy = net.createServer((socket) => {
      const upstream = net.connect(Number(target.port), target.hostname);
      socket.on('data', (d) => {
        seen.push(d);
        upstream.write(d);
      });
      upstream.on('data', (d) => {
        seen.push(d);
        socket.write(d);
      });
      for (const s of [socket, upstream])
        s.on('error', () => {
          socket.destroy();
          upstream.destroy();
        });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    cleanup.push(
      () =>
        new Promise((resolve) => {
          proxy.close(resolve);
        }),
    );
    const viaProxy = `node-ucx-port:tcp://127.0.0.1:${(proxy.address() as net.AddressInfo).port}/${token}`;
    const [accepted, connected] = await Promise.all([p.accept(5_000), connectPort(viaProxy, 5_000)]);
    cleanup.push(() => {
      accepted.abort();
      connected.abort();
    });
    const [a, b] = await Promise.all([
      accepted.exchange({ size: 1, context: 7, cards: [Buffer.from('card-a')] }, 5_000),
      connected.exchange({ size: 2, context: 9, cards: [Buffer.from('b0'), Buffer.from('b1')] }, 5_000),
    ]);
    expect(a).toMatchObject({ size: 2, context: 9 });
    expect(a.cards.map(String)).toEqual(['b0', 'b1']);
    expect(b.cards.map(String)).toEqual(['card-a']);
    expect(Buffer.concat(seen).includes(Buffer.from(token))).toBe(false);
    const forged = p.name.replace(/\/[0-9a-f]{48}$/, `/${'0'.repeat(48)}`);
    await expect(connectPort(forged, 3_000)).rejects.toMatchObject({
      code: 'ERR_MPI_PORT',
      message: expect.stringMatching(/refused the connection \(wrong port token\)/),
    });
  });

  it('garbage from a peer without the token is dropped; the port still serves; an unreachable port is ERR_MPI_PORT after the timeout', async () => {
    const p = await port();
    const { urls } = parsePortName(p.name);
    const where = new URL(urls[0]!.replace('tcp:', 'http:'));
    for (const chunk of [
      Buffer.from('GET / HTTP/1.0\r\n\r\n'),
      Buffer.alloc(9000, 0xff),
      Buffer.from([0x4e, 0x55, 0x54, 0x43, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
    ]) {
      const socket = net.connect(Number(where.port), where.hostname);
      socket.on('error', () => {});
      socket.resume();
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(chunk);
      await Promise.race([
        new Promise((resolve) => socket.once('close', resolve)),
        new Promise((_, reject) => setTimeout(() => reject(new Error('the port kept a garbage connection open')), 3_000)),
      ]);
    }
    const [accepted, connected] = await Promise.all([p.accept(5_000), connectPort(p.name, 5_000)]);
    accepted.abort();
    connected.abort();
    const url = p.name;
    await p.close();
    await expect(connectPort(url, 300)).rejects.toMatchObject({
      code: 'ERR_MPI_PORT',
      message: expect.stringMatching(/cannot connect to the port .* within 300 ms/),
    });
    await expect(p.accept(10)).rejects.toMatchObject({ code: 'ERR_MPI_PORT' });
  });
});
