/**
 * Run as a child process (tsx) by the frontend tests, outside jsdom: a real sidecar on an
 * ephemeral port, and in front of it Grafana's data source proxy as the plugin.json route
 * describes it: `/api/datasources/proxy/uid/<uid>/sidecar/*` → the sidecar, with the route's
 * headers rendered from jsonData/secureJsonData (so the key is added here, not by the plugin).
 * WebSocket upgrades are passed through the same way. Prints one JSON line with its URLs;
 * reads commands on stdin: `drop` (cut every proxied socket, as a network blip), `sockets`.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { READ_KEY, REPO, startTestSidecar } from '../server/harness';

export const PROXY_PREFIX = '/api/datasources/proxy/uid/scada';

async function main(): Promise<void> {
  const sidecar = await startTestSidecar();
  const target = new URL(sidecar.url);
  const plugin = JSON.parse(fs.readFileSync(path.join(REPO, 'plugin.json'), 'utf8'));
  const settings = { JsonData: { url: sidecar.url }, SecureJsonData: { apiKey: READ_KEY } };
  const render = (tpl: string) =>
    tpl.replace(/\{\{\s*\.(\w+)\.(\w+)\s*\}\}/g, (_m, a: string, b: string) =>
      String((settings as Record<string, Record<string, string>>)[a]?.[b] ?? ''),
    );

  /** The route for a proxied path, and the path on the target. */
  const route = (url: string): { headers: Record<string, string>; path: string } | undefined => {
    if (!url.startsWith(PROXY_PREFIX + '/')) return undefined;
    const rest = url.slice(PROXY_PREFIX.length + 1);
    for (const r of plugin.routes as Array<{ path: string; url: string; headers?: Array<{ name: string; content: string }> }>) {
      if (rest === r.path || rest.startsWith(r.path + '/') || rest.startsWith(r.path + '?')) {
        const base = new URL(render(r.url));
        const headers: Record<string, string> = {};
        for (const h of r.headers ?? []) headers[h.name.toLowerCase()] = render(h.content);
        return { headers, path: base.pathname.replace(/\/$/, '') + rest.slice(r.path.length) };
      }
    }
    return undefined;
  };

  const upgraded = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const r = route(req.url ?? '');
    if (!r) {
      res.writeHead(404).end('{"message":"not a proxy route"}');
      return;
    }
    // Grafana's proxy does not forward the browser's cookies or Origin to the target.
    const { cookie: _c, origin: _o, host: _h, ...headers } = req.headers;
    const up = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: r.path, headers: { ...headers, ...r.headers } },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  server.on('upgrade', (req, socket: net.Socket, head) => {
    const r = route(req.url ?? '');
    if (!r) return socket.destroy();
    const { cookie: _c, origin: _o, host: _h, ...headers } = req.headers;
    const all = { ...headers, ...r.headers, host: target.host };
    const upstream = net.connect(Number(target.port), target.hostname, () => {
      const lines = [
        `GET ${r.path} HTTP/1.1`,
        ...Object.entries(all).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : v}`),
        '',
        '',
      ];
      upstream.write(lines.join('\r\n'));
      if (head.length) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upgraded.add(socket);
    const done = () => {
      upgraded.delete(socket);
      upstream.destroy();
      socket.destroy();
    };
    socket.on('close', done);
    socket.on('error', done);
    upstream.on('close', done);
    upstream.on('error', done);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  process.stdout.write(JSON.stringify({ proxyUrl: `http://127.0.0.1:${port}${PROXY_PREFIX}`, sidecarUrl: sidecar.url }) + '\n');

  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line === 'drop') {
      for (const s of upgraded) s.destroy();
      process.stdout.write(JSON.stringify({ dropped: true }) + '\n');
    } else if (line === 'sockets') {
      process.stdout.write(JSON.stringify({ sockets: upgraded.size }) + '\n');
    }
  });
  rl.on('close', async () => {
    server.close();
    await sidecar.close();
    process.exit(0);
  });
}

void main();
