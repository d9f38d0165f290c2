/**
 * The docker compose dev setup and Grafana provisioning, checked the only ways possible
 * without a Docker engine: Debian's `docker-compose config` validates the file, and the
 * pieces are checked against each other (plugin id, data source uid, channel names).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { parseSidecarConfig } from '../../src/sidecar/config';

const root = path.resolve(__dirname, '../..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');
const pluginJson = JSON.parse(read('plugin.json')) as { id: string };

interface Compose {
  services: Record<string, { image?: string; command?: string[]; environment?: Record<string, string>; volumes?: string[] }>;
}

describe('docker-compose.yaml', () => {
  it('is valid for docker-compose and runs Grafana, the sidecar, Redis and the Modbus simulator', () => {
    const out = execFileSync('docker-compose', ['-f', path.join(root, 'docker-compose.yaml'), 'config'], { encoding: 'utf8' });
    const config = parse(out) as Compose;
    expect(Object.keys(config.services).sort()).toEqual(['grafana', 'modbus-sim', 'redis', 'sidecar']);
    const grafana = config.services.grafana;
    expect(grafana.environment?.GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS).toBe(pluginJson.id);
    expect(grafana.volumes).toEqual(
      expect.arrayContaining([
        `${path.join(root, 'dist')}:/var/lib/grafana/plugins/${pluginJson.id}:ro`,
        `${path.join(root, 'provisioning')}:/etc/grafana/provisioning:ro`,
      ]),
    );
    expect(config.services.sidecar.command).toEqual(expect.arrayContaining(['serve', 'config/compose.yaml']));
    expect(config.services.sidecar.environment?.REDIS_URL).toBe('redis://redis:6379');
    expect(config.services['modbus-sim'].command).toEqual(expect.arrayContaining(['simulate', 'modbus', 'config/modbus-sim.yaml', '5020']));
    // The key Grafana's proxy injects is one the sidecar accepts.
    expect(config.services.sidecar.environment?.SCADALIVE_API_KEYS.split(',')).toContain(grafana.environment?.SCADALIVE_API_KEY);
  });

  it("the sidecar's config is valid and polls the simulator service through Redis", () => {
    const config = parseSidecarConfig(parse(read('config/compose.yaml')), path.join(root, 'config'));
    expect(config.server.host).toBe('0.0.0.0');
    expect(config.model?.devices.map((d) => [d.host, d.port])).toEqual([['modbus-sim', 5020]]);
    expect(config.registry.instances.map((i) => i.id)).toContain('scada');
  });
});

describe('provisioning', () => {
  const datasources = parse(read('provisioning/datasources/scadalive.yaml')) as {
    datasources: Array<{ uid: string; type: string; access: string; jsonData: { url: string }; secureJsonData: { apiKey: string } }>;
  };
  const [ds] = datasources.datasources;

  it('provisions the data source through the proxy, with the key as a secret', () => {
    expect(ds.type).toBe(pluginJson.id);
    expect(ds.access).toBe('proxy');
    expect(ds.jsonData.url).toBe('http://sidecar:3210');
    expect(ds.secureJsonData.apiKey).toBe('${SCADALIVE_API_KEY}');
  });

  it('has a demo dashboard whose panels query channels that exist', () => {
    const dashboard = JSON.parse(read('provisioning/dashboards/scadalive-demo.json')) as {
      panels: Array<{ type: string; datasource: { uid: string }; targets: Array<{ instance: string; channels: string[]; kind?: string }> }>;
    };
    const config = parseSidecarConfig(parse(read('config/compose.yaml')), path.join(root, 'config'));
    const scadaChannels = new Set([
      ...(config.model?.links ?? []).map((l) => {
        const term = config.model!.terms.find((t) => t.id === l.termId)!;
        return `${term.deviceId}/${l.termId}/${l.itemId}`;
      }),
      'devices',
      'model',
    ]);
    const simChannels = new Set(['temperature', 'level', 'pump_on', 'pressure', 'flow']);
    expect(dashboard.panels.map((p) => p.type)).toEqual(expect.arrayContaining(['timeseries', 'table']));
    for (const panel of dashboard.panels) {
      expect(panel.datasource.uid).toBe(ds.uid);
      for (const target of panel.targets) {
        const known = target.instance === 'scada' ? scadaChannels : simChannels;
        for (const ch of target.channels) expect([target.instance, ch, known.has(ch)]).toEqual([target.instance, ch, true]);
      }
    }
    const provider = parse(read('provisioning/dashboards/dashboards.yaml')) as { providers: Array<{ options: { path: string } }> };
    expect(provider.providers[0].options.path).toBe('/etc/grafana/provisioning/dashboards');
  });
});
