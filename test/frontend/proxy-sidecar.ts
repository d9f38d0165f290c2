/**
 * Run as a child process (tsx) by the frontend tests, outside jsdom: a real sidecar on an
 * ephemeral port, and in front of it Grafana's data source proxy (test/helpers/grafana-proxy.ts),
 * so the key is added by the proxy, not by the plugin. Prints one JSON line with its URLs;
 * reads commands on stdin: `drop` (cut every proxied socket, as a network blip), `sockets`.
 */
import * as readline from 'node:readline';
import { pluginJsonPath, startDataSourceProxy } from '../helpers/grafana-proxy';
import { READ_KEY, REPO, startTestSidecar } from '../server/harness';

export const PROXY_PREFIX = '/api/datasources/proxy/uid/scada';

async function main(): Promise<void> {
  const sidecar = await startTestSidecar();
  const proxy = await startDataSourceProxy({
    pluginJsonPath: pluginJsonPath(REPO),
    prefix: PROXY_PREFIX,
    jsonData: { url: sidecar.url },
    secureJsonData: { apiKey: READ_KEY },
  });
  process.stdout.write(JSON.stringify({ proxyUrl: proxy.origin + PROXY_PREFIX, sidecarUrl: sidecar.url }) + '\n');

  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line === 'drop') {
      proxy.dropSockets();
      process.stdout.write(JSON.stringify({ dropped: true }) + '\n');
    } else if (line === 'sockets') {
      process.stdout.write(JSON.stringify({ sockets: proxy.upgraded.size }) + '\n');
    }
  });
  rl.on('close', async () => {
    await proxy.close();
    await sidecar.close();
    process.exit(0);
  });
}

void main();
