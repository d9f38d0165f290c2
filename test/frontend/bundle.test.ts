/**
 * @jest-environment jsdom
 *
 * The built dist/module.js as Grafana loads it: an AMD module whose dependencies (Grafana's
 * shared libraries) are handed in by the host. A small `define` shim plays SystemJS's part.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grafanaData from '@grafana/data';
import { pluginJsonProblems } from '../packaging/grafana-plugin-json';
import { GRAFANA_SHARED_MODULES } from './shared-modules';

const REPO = path.resolve(__dirname, '../..');
const packageJson = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
const DIST = path.join(REPO, 'dist');

beforeAll(() => {
  execFileSync(
    process.execPath,
    [path.join(REPO, 'node_modules/webpack-cli/bin/cli.js'), '--config', 'webpack.config.mjs', '--mode', 'production'],
    {
      cwd: REPO,
      stdio: 'pipe',
    },
  );
}, 60_000);

const SHARED = GRAFANA_SHARED_MODULES;

function loadAmd(file: string): Record<string, unknown> {
  let exported: Record<string, unknown> | undefined;
  const requested: string[] = [];
  const define = (deps: string[], factory: (...mods: unknown[]) => Record<string, unknown>) => {
    requested.push(...deps);
    exported = factory(
      ...deps.map((d) => {
        if (!(d in SHARED)) throw new Error(`dist/module.js asks for "${d}", which Grafana does not share`);
        return SHARED[d];
      }),
    );
  };
  (define as unknown as { amd: object }).amd = {};
  new Function('define', fs.readFileSync(file, 'utf8'))(define);
  if (!exported) throw new Error('dist/module.js did not call define()');
  return exported;
}

it('builds an AMD module that exports a DataSourcePlugin with both editors and a variable editor', () => {
  const mod = loadAmd(path.join(DIST, 'module.js'));
  const plugin = mod.plugin as grafanaData.DataSourcePlugin<never>;
  expect(plugin).toBeInstanceOf(grafanaData.DataSourcePlugin);
  expect(typeof plugin.DataSourceClass).toBe('function');
  expect(plugin.DataSourceClass.name).not.toBe('');
  expect(typeof plugin.components.ConfigEditor).toBe('function');
  expect(typeof plugin.components.QueryEditor).toBe('function');
  expect(typeof plugin.components.VariableQueryEditor).toBe('function');
});

it('bundles none of the shared libraries and ships plugin.json, README and the logo', () => {
  const code = fs.readFileSync(path.join(DIST, 'module.js'), 'utf8');
  expect(code.startsWith('define(')).toBe(true);
  // React's or rxjs's own code in the bundle would mean a second copy next to Grafana's.
  expect(code).not.toMatch(/react\.production|__SECRET_INTERNALS|Subscriber\.prototype/);
  const pluginJson = JSON.parse(fs.readFileSync(path.join(DIST, 'plugin.json'), 'utf8'));
  expect(pluginJson.id).toBe('scadalive-scada-datasource');
  // The build fills in the version and date, and the result is still valid for Grafana.
  expect(pluginJson.info.version).toBe(packageJson.version);
  expect(pluginJson.info.updated).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  expect(pluginJsonProblems(pluginJson)).toEqual([]);
  for (const logo of Object.values(pluginJson.info.logos) as string[]) expect(fs.existsSync(path.join(DIST, logo))).toBe(true);
  for (const shot of pluginJson.info.screenshots as Array<{ path: string }>) expect(fs.existsSync(path.join(DIST, shot.path))).toBe(true);
  expect(fs.existsSync(path.join(DIST, 'README.md'))).toBe(true);
});

it('plugin.json declares the read route with the API key, and a write route with the control key for Editors only', () => {
  const pluginJson = JSON.parse(fs.readFileSync(path.join(REPO, 'plugin.json'), 'utf8'));
  expect(pluginJson).toMatchObject({ type: 'datasource', metrics: true, streaming: true, backend: false, category: 'iot' });
  expect(pluginJson.routes).toEqual([
    { path: 'sidecar', url: '{{ .JsonData.url }}', headers: [{ name: 'Authorization', content: 'Bearer {{ .SecureJsonData.apiKey }}' }] },
    {
      path: 'control',
      url: '{{ .JsonData.url }}',
      reqRole: 'Editor',
      headers: [{ name: 'Authorization', content: 'Bearer {{ .SecureJsonData.controlKey }}' }],
    },
  ]);
  expect(pluginJson.dependencies.grafanaDependency).toBe('>=13.0.0');
});
