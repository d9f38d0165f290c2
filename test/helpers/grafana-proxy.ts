/**
 * Grafana's data source proxy as the plugin.json route describes it, for tests and the
 * browser harness: `<prefix>/<route.path>/*` → the route's URL, with the route's headers
 * rendered from jsonData/secureJsonData (so the key is added here, never by the plugin).
 * WebSocket upgrades pass through the same way. Requests outside the prefix go to
 * `fallback` (the browser harness serves its page there), or get a 404.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';

interface Route {
  path: string;
  url: string;
  reqRole?: Role;
  headers?: Array<{ name: string; content: string }>;
}

/** Grafana's organisation roles, lowest first: a route's `reqRole` admits that role and those above. */
export const ROLES = ['Viewer', 'Editor', 'Admin'] as const;
export type Role = (typeof ROLES)[number];

export interface ProxyOptions {
  /** Where plugin.json is (its `routes` are what the proxy follows). */
  pluginJsonPath: string;
  /** `/api/datasources/proxy/uid/<uid>`, as Grafana builds it. */
  prefix: string;
  jsonData: Record<string, string>;
  secureJsonData: Record<string, string>;
  /** The signed-in user's role; routes with a higher `reqRole` answer 403, as Grafana's proxy does. */
  role?: Role;
  fallback?: (req: http.IncomingMessage, res: http.ServerResponse) => void;
}

export interface DataSourceProxy {
  /** Base URL of the server (no prefix). */
  origin: string;
  /** Proxied WebSockets currently open. */
  readonly upgraded: ReadonlySet<net.Socket>;
  /** Cuts every proxied WebSocket, as a network blip would. */
  dropSockets(): void;
  close(): Promise<void>;
}

export async function startDataSourceProxy(options: ProxyOptions): Promise<DataSourceProxy> {
  const plugin = JSON.parse(fs.readFileSync(options.pluginJsonPath, 'utf8')) as { routes?: Route[] };
  const settings: Record<string, Record<string, string>> = {
    JsonData: options.jsonData,
    SecureJsonData: options.secureJsonData,
  };
  // Grafana renders route templates with Go's text/template; `{{ .JsonData.x }}` is the form plugins use.
  const render = (tpl: string) => tpl.replace(/\{\{\s*\.(\w+)\.(\w+)\s*\}\}/g, (_m, a: string, b: string) => settings[a]?.[b] ?? '');
  const { prefix } = options;

  /** The route for a proxied path: the target and the path on it, with the route's headers. */
  const role = options.role ?? 'Editor';
  const route = (url: string): { target: URL; headers: Record<string, string>; path: string; denied: boolean } | undefined => {
    if (!url.startsWith(prefix + '/')) return undefined;
    const rest = url.slice(prefix.length + 1);
    for (const r of plugin.routes ?? []) {
      if (rest === r.path || rest.startsWith(r.path + '/') || rest.startsWith(r.path + '?')) {
        const target = new URL(render(r.url));
        const headers: Record<string, string> = {};
        for (const h of r.headers ?? []) headers[h.name.toLowerCase()] = render(h.content);
        const denied = r.reqRole !== undefined && ROLES.indexOf(role) < ROLES.indexOf(r.reqRole);
        return { target, headers, path: target.pathname.replace(/\/$/, '') + rest.slice(r.path.length), denied };
      }
    }
    return undefined;
  };

  const upgraded = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const r = route(req.url ?? '');
    if (!r) {
      if (options.fallback && !(req.url ?? '').startsWith(prefix)) return options.fallback(req, res);
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"not a proxy route"}');
      return;
    }
    if (r.denied) {
      res.writeHead(403, { 'content-type': 'application/json' }).end('{"message":"Access denied"}');
      return;
    }
    // Grafana's proxy does not forward the browser's cookies or Origin to the target.
    const { cookie: _c, origin: _o, host: _h, ...headers } = req.headers;
    const up = http.request(
      { host: r.target.hostname, port: r.target.port, method: req.method, path: r.path, headers: { ...headers, ...r.headers } },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  });

  server.on('upgrade', (req, socket: net.Socket, head: Buffer) => {
    const r = route(req.url ?? '');
    if (!r || r.denied) return socket.destroy();
    const { cookie: _c, origin: _o, host: _h, ...headers } = req.headers;
    const all = { ...headers, ...r.headers, host: r.target.host };
    const upstream = net.connect(Number(r.target.port), r.target.hostname, () => {
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
  return {
    origin: `http://127.0.0.1:${port}`,
    upgraded,
    dropSockets: () => {
      for (const s of upgraded) s.destroy();
    },
    close: async () => {
      for (const s of upgraded) s.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export const pluginJsonPath = (repo: string): string => path.join(repo, 'plugin.json');
