/**
 * The browser harness's server: plays Grafana's server side for the built plugin. It
 * serves the host page (test/browser/host, bundled with esbuild), the built plugin under
 * public/plugins/<id>/ as Grafana does, and the data source proxy route from plugin.json
 * (test/helpers/grafana-proxy.ts) in front of a real sidecar polling a real Modbus TCP
 * simulator (the `npm start` setup), so the page never holds a key.
 *
 * `npm run harness` runs it for a person with a browser; browser.test.ts drives it headless.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { build } from 'esbuild';
import pino from 'pino';
import { parseSidecarConfig } from '../../src/sidecar/config';
import { loadConfigFile } from '../../src/sidecar/config-file';
import { runSimulateModbus } from '../../src/sidecar/scada/drivers/modbus/cli';
import { startSidecar, type Sidecar } from '../../src/sidecar/sidecar';
import { pluginJsonPath, startDataSourceProxy } from '../helpers/grafana-proxy';
import { READ_KEY, REPO } from '../server/harness';

/** Grafana serves @grafana/ui's icons from public/build/img; the package ships them. */
const UI_IMG = path.join(REPO, 'node_modules/@grafana/ui/dist/public/img');
const UID = 'scada';
export const PROXY_PREFIX = `/api/datasources/proxy/uid/${UID}`;

const TYPES: Record<string, string> = {
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.map': 'application/json',
  '.md': 'text/markdown',
  '.woff2': 'font/woff2',
  '.png': 'image/png',
};

export interface BrowserHarness {
  /** The page: `<origin>/?transport=websocket|http&range=<minutes>`. */
  url: string;
  origin: string;
  sidecar: Sidecar;
  /** Cuts every proxied WebSocket (a network blip). */
  dropSockets(): void;
  openSockets(): number;
  close(): Promise<void>;
}

/**
 * Builds the plugin as `npm run build` does, but into `outDir/plugin` (so a test building
 * dist/ at the same time cannot pull it from under the page), and the host page bundle.
 */
export async function buildAll(outDir: string): Promise<void> {
  const webpack = path.join(REPO, 'node_modules/webpack-cli/bin/cli.js');
  execFileSync(
    process.execPath,
    [webpack, '--config', 'webpack.config.mjs', '--mode', 'production', '--output-path', path.join(outDir, 'plugin')],
    {
      cwd: REPO,
      stdio: 'pipe',
    },
  );
  await build({
    entryPoints: { host: path.join(__dirname, 'host/main.tsx') },
    outdir: outDir,
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    jsx: 'automatic',
    minify: false,
    sourcemap: false,
    logLevel: 'error',
    define: { 'process.env.NODE_ENV': '"production"', global: 'globalThis' },
    loader: { '.woff': 'empty', '.woff2': 'empty', '.ttf': 'empty', '.eot': 'empty', '.png': 'dataurl', '.svg': 'dataurl' },
  });
}

function page(config: object): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>SCADA Live — browser harness</title>
<base href="/">
<link rel="stylesheet" href="host.css">
<script>
window.harnessConfig = ${JSON.stringify(config)};
// @grafana/runtime reads its config from here when it loads, as Grafana's index.html sets it.
window.grafanaBootData = { settings: { buildInfo: { version: '13.2.2' }, featureToggles: {} }, user: { timezone: 'browser' }, navTree: [] };
</script>
</head>
<body class="theme-dark"><div id="root"></div><script src="host.js"></script></body>
</html>`;
}

function sendFile(res: http.ServerResponse, file: string): void {
  fs.readFile(file, (err, data) => {
    if (err) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' }).end(data);
  });
}

/** Inside `dir`, or undefined: a request path must not climb out of what is served. */
function within(dir: string, rel: string): string | undefined {
  const file = path.resolve(dir, '.' + path.posix.normalize('/' + rel));
  return file.startsWith(dir + path.sep) ? file : undefined;
}

/**
 * What `npm start` runs, on free ports and with the test key: the Modbus TCP simulator of
 * config/modbus-sim.yaml, and the sidecar of config/dev.yaml polling it (plus its `sim` and
 * `csv` instances), in memory.
 */
async function startDevSetup(): Promise<{ sidecar: Sidecar; closeDevices(): Promise<void> }> {
  const logger = pino({ level: 'silent' });
  const sim = await runSimulateModbus({ config: path.join(REPO, 'config/modbus-sim.yaml'), port: 0, host: '127.0.0.1', logger });
  try {
    const file = await loadConfigFile(path.join(REPO, 'config/dev.yaml'));
    const config = parseSidecarConfig(file.data, file.baseDir);
    config.server = { ...config.server, port: 0, apiKeys: [READ_KEY], controlKeys: [], logLevel: 'silent' };
    for (const device of config.model?.devices ?? []) device.port = sim.port;
    const sidecar = await startSidecar(config, { version: 'harness', logger, env: {} });
    return { sidecar, closeDevices: () => sim.close() };
  } catch (err) {
    await sim.close();
    throw err;
  }
}

export async function startBrowserHarness(): Promise<BrowserHarness> {
  const pluginId = (JSON.parse(fs.readFileSync(pluginJsonPath(REPO), 'utf8')) as { id: string }).id;
  const hostDir = fs.mkdtempSync(path.join(os.tmpdir(), 'scadalive-harness-'));
  await buildAll(hostDir);
  const { sidecar, closeDevices } = await startDevSetup();
  const pluginPrefix = `/public/plugins/${pluginId}/`;

  const proxy = await startDataSourceProxy({
    pluginJsonPath: pluginJsonPath(REPO),
    prefix: PROXY_PREFIX,
    jsonData: { url: sidecar.url },
    secureJsonData: { apiKey: READ_KEY },
    fallback: (req, res) => {
      const url = new URL(req.url ?? '/', 'http://harness/');
      if (url.pathname === '/') {
        const transport = url.searchParams.get('transport') === 'http' ? 'http' : 'websocket';
        const rangeMinutes = Math.min(24 * 60, Math.max(1, Number(url.searchParams.get('range')) || 5));
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(page({ pluginId, uid: UID, dsUrl: PROXY_PREFIX, sidecarUrl: 'http://sidecar:3210', transport, rangeMinutes }));
        return;
      }
      const file = url.pathname.startsWith(pluginPrefix)
        ? within(path.join(hostDir, 'plugin'), url.pathname.slice(pluginPrefix.length))
        : url.pathname.startsWith('/public/build/img/')
          ? within(UI_IMG, url.pathname.slice('/public/build/img/'.length))
          : within(hostDir, url.pathname.slice(1));
      if (file) sendFile(res, file);
      else res.writeHead(404).end();
    },
  });

  return {
    url: `${proxy.origin}/`,
    origin: proxy.origin,
    sidecar,
    dropSockets: () => proxy.dropSockets(),
    openSockets: () => proxy.upgraded.size,
    close: async () => {
      await proxy.close();
      await sidecar.close();
      await closeDevices();
      fs.rmSync(hostDir, { recursive: true, force: true });
    },
  };
}

if (require.main === module) {
  void startBrowserHarness().then((h) => {
    process.stdout.write(`Browser harness: ${h.url}  (chunked-HTTP live: ${h.url}?transport=http; Ctrl-C stops it)\n`);
    const stop = () => void h.close().then(() => process.exit(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
