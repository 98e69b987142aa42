/** The chaos proxy delays and jitters a TCP stream without ever reordering or losing its bytes. */
import * as net from 'node:net';
import { Rng } from '@raft-cqrs/raft/testing';
import { FaultProxy, LinkFault } from './proxy';

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as net.AddressInfo).port;
}

/** A started proxy on loopback in front of `targetPort`, and the port it listens on. */
async function startProxy(targetPort: number, fault: () => LinkFault, random: () => number): Promise<{ proxy: FaultProxy; port: number }> {
  const proxy = new FaultProxy({
    listenHost: '127.0.0.1',
    listenPort: 0,
    targetHost: '127.0.0.1',
    targetPort,
    dst: 1,
    sourceOf: () => 2,
    bindFor: () => '127.0.0.1',
    fault,
    random,
  });
  await proxy.start();
  const port = ((proxy as unknown as { server: net.Server }).server.address() as net.AddressInfo).port;
  return { proxy, port };
}

describe('FaultProxy', () => {
  it('keeps every byte in order under delay and heavy jitter, both ways', async () => {
    // The far end echoes everything back.
    const echo = net.createServer((s) => s.pipe(s));
    const echoPort = await listen(echo);
    const rng = new Rng(7);
    let fault: LinkFault = { delayMs: 5, jitterMs: 40, resetProbability: 0 };
    const { proxy, port } = await startProxy(echoPort, () => fault, () => rng.next());
    const sent: Buffer[] = [];
    const got: Buffer[] = [];
    const client = net.connect(port, '127.0.0.1');
    client.setNoDelay(true);
    client.on('data', (c: Buffer) => got.push(c));
    await new Promise<void>((r) => client.once('connect', () => r()));
    for (let i = 0; i < 400; i++) {
      const chunk = Buffer.from(`<${i}:${'x'.repeat(i % 37)}>`);
      sent.push(chunk);
      client.write(chunk);
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 3));
      if (i === 200) fault = { delayMs: 0, jitterMs: 0, resetProbability: 0 }; // the fault heals mid-stream
    }
    const total = Buffer.concat(sent).length;
    for (let i = 0; i < 200 && Buffer.concat(got).length < total; i++) await new Promise((r) => setTimeout(r, 25));
    expect(Buffer.concat(got).toString()).toBe(Buffer.concat(sent).toString());
    client.destroy();
    await proxy.stop();
    await new Promise<void>((r) => echo.close(() => r()));
  });

  it('delivers an answer that is followed by the server closing the connection, under delay', async () => {
    // An HTTP/1.0-style server: it answers and closes at once, before the proxy has delivered the answer.
    const answer = 'HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n' + 'y'.repeat(5000);
    const server = net.createServer((s) => s.once('data', () => s.end(answer)));
    const serverPort = await listen(server);
    const { proxy, port } = await startProxy(serverPort, () => ({ delayMs: 40, jitterMs: 30, resetProbability: 0 }), () => 0.5);
    const client = net.connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    let error: string | null = null;
    client.on('data', (c: Buffer) => got.push(c));
    client.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    await new Promise<void>((r) => client.once('connect', () => r()));
    client.write('GET / HTTP/1.1\r\n\r\n');
    const closed = await Promise.race([
      new Promise<boolean>((r) => client.once('close', () => r(true))),
      new Promise<boolean>((r) => setTimeout(() => r(false), 3000).unref()),
    ]);
    client.destroy();
    proxy.resetAll();
    expect(closed).toBe(true);
    expect(error).toBeNull();
    expect(Buffer.concat(got).toString()).toBe(answer);
    await proxy.stop();
    await new Promise<void>((r) => server.close(() => r()));
  });
});
