/**
 * Run as a child process (tsx) by the frontend tests, outside jsdom: a real sidecar on an
 * ephemeral port, and in front of it Grafana's data source proxy (test/helpers/grafana-proxy.ts),
 * so the key is added by the proxy, not by the plugin. Prints one JSON line with its URLs;
 * reads commands on stdin: `drop` (cut every proxied socket, as a network blip), `sockets`.
 */
import * as readline from 'node:readline';
import { pluginJsonPath, startDataSourceProxy, type Role } from '../helpers/grafana-proxy';
import { DataSource } from '../../src/sidecar/registry/datasource';
import type { Channel } from '../../src/sidecar/registry/types';
import { CONTROL_KEY, DEFAULT_INSTANCES, READ_KEY, REPO, startTestSidecar } from '../server/harness';

export const PROXY_PREFIX = '/api/datasources/proxy/uid/scada';

/** A writable point as the scada data source lists one, on a device the sidecar does not know (writes answer 404). */
class WritablePoints extends DataSource {
  override getChannels(): Channel[] {
    return [
      { name: 'plc9/unit1/setpoint', type: 'timeseries', writable: true },
      { name: 'plc9/unit1/level', type: 'timeseries', writable: false },
    ];
  }
}

async function main(): Promise<void> {
  const sidecar = await startTestSidecar({
    instances: [...DEFAULT_INSTANCES, { id: 'points', plugin: 'points' }],
    plugins: new Map([['points', WritablePoints]]),
  });
  const proxyAs = (role: Role) =>
    startDataSourceProxy({
      pluginJsonPath: pluginJsonPath(REPO),
      prefix: PROXY_PREFIX,
      jsonData: { url: sidecar.url },
      secureJsonData: { apiKey: READ_KEY, controlKey: CONTROL_KEY },
      role,
    });
  const proxy = await proxyAs('Editor');
  // The same data source as a Viewer sees it: the control route is refused.
  const viewerProxy = await proxyAs('Viewer');
  process.stdout.write(
    JSON.stringify({ proxyUrl: proxy.origin + PROXY_PREFIX, viewerProxyUrl: viewerProxy.origin + PROXY_PREFIX, sidecarUrl: sidecar.url }) + '\n',
  );

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
    await viewerProxy.close();
    await sidecar.close();
    process.exit(0);
  });
}

void main();
