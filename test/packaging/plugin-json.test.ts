/**
 * plugin.json against Grafana's plugin.json schema (see grafana-plugin-json.ts), and the
 * schema itself against files it must refuse, so a pass means something.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { pluginJsonProblems } from './grafana-plugin-json';

const root = path.resolve(__dirname, '../..');
const source = JSON.parse(readFileSync(path.join(root, 'plugin.json'), 'utf8')) as Record<string, unknown> & {
  info: Record<string, unknown>;
  dependencies: Record<string, unknown>;
};
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };

describe('plugin.json', () => {
  it("validates against Grafana's plugin.json schema", () => {
    expect(pluginJsonProblems(source)).toEqual([]);
  });

  it('leaves version and build date to the build, as create-plugin does', () => {
    expect(source.info.version).toBe('%VERSION%');
    expect(source.info.updated).toBe('%TODAY%');
    expect(pkg.version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('is a streaming metrics data source for the Grafana it was built against', () => {
    expect(source).toMatchObject({ type: 'datasource', metrics: true, streaming: true, category: 'iot' });
    // @grafana/* are pinned to 13.2.2; the range must include it.
    expect(source.dependencies.grafanaDependency).toBe('>=13.0.0');
  });
});

describe("the restated schema refuses what Grafana's refuses", () => {
  const withChange = (change: (json: typeof source) => void) => {
    const json = structuredClone(source);
    change(json);
    return pluginJsonProblems(json);
  };

  it.each<[string, (json: typeof source) => void, string]>([
    ['an id without the type suffix', (j) => (j.id = 'scadalive-scada'), 'id'],
    ['an upper-case id', (j) => (j.id = 'ScadaLive-scada-datasource'), 'id'],
    ['an unknown type', (j) => (j.type = 'source'), 'type'],
    ['an unknown top-level key (a misspelling)', (j) => (j.stremaing = true), '(root)'],
    ['a missing info.updated', (j) => delete j.info.updated, 'info.updated'],
    ['a date in the wrong format', (j) => (j.info.updated = '22/11/2026'), 'info.updated'],
    ['a version that is not semver', (j) => (j.info.version = 'v1'), 'info.version'],
    ['no keywords', (j) => (j.info.keywords = []), 'info.keywords'],
    ['a logo missing', (j) => (j.info.logos = { small: 'img/logo.svg' }), 'info.logos.large'],
    ['a missing grafanaDependency', (j) => (j.dependencies = {}), 'dependencies.grafanaDependency'],
    ['a grafanaDependency that is not a range', (j) => (j.dependencies.grafanaDependency = 'latest'), 'dependencies.grafanaDependency'],
    ['an unknown category', (j) => (j.category = 'plc'), 'category'],
    ['an unknown key in a route', (j) => (j.routes = [{ path: 'x', URL: 'http://x' }]), 'routes.0'],
  ])('%s', (_name, change, where) => {
    const problems = withChange(change);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.some((p) => p.startsWith(`${where}:`))).toBe(true);
  });

  it('accepts the concrete version and date the build writes', () => {
    expect(withChange((j) => ((j.info.version = '1.12.0'), (j.info.updated = '2026-11-22')))).toEqual([]);
  });
});
