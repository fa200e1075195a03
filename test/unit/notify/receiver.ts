import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received { key: string; n: number; answered: number | 'dropped'; headers: http.IncomingHttpHeaders; body: string }

/**
 * A webhook receiver on 127.0.0.1 that fails the first attempts of each event: 500, then a dropped
 * connection, then 200 (per `failures`). Events are told apart by `keyOf(body)`.
 */
export async function startReceiver(keyOf: (body: string, headers: http.IncomingHttpHeaders) => string, failures: Array<500 | 'drop'> = [500, 'drop']) {
  const received: Received[] = [];
  const counts = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const key = keyOf(body, req.headers);
      const n = (counts.get(key) ?? 0) + 1;
      counts.set(key, n);
      const plan = failures[n - 1];
      if (plan === 'drop') { received.push({ key, n, answered: 'dropped', headers: req.headers, body }); req.socket.destroy(); return; }
      const status = plan ?? 200;
      received.push({ key, n, answered: status, headers: req.headers, body });
      res.writeHead(status).end(status === 200 ? 'ok' : 'busy');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return {
    url, received,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
