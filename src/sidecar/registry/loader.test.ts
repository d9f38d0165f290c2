import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { DataSource, type DataSourceClass } from './datasource';
import { findPluginFiles, loadPluginFile, loadPlugins, pickPluginClass } from './loader';
import { Registry } from './registry';

// Plugin files written here import the real base class by absolute path, as a user's would by relative path.
const BASE = path.resolve(__dirname, 'datasource.ts');
const BASE_NO_EXT = BASE.replace(/\.ts$/, '');

const JS_PLUGIN = `
const { DataSource } = require(${JSON.stringify(BASE)});
class Echo extends DataSource {
  initialize() { this.ready = true; }
  getChannels() { return [{ name: 'echo', type: 'timeseries' }]; }
  getTimeseries(channels) {
    return Object.fromEntries(channels.map((c) => [c, { times: [1000, 2000], values: [1, 2] }]));
  }
}
module.exports = Echo;
`;

const TS_PLUGIN = `
import { DataSource } from ${JSON.stringify(BASE_NO_EXT)};
export default class Gauge extends DataSource {
  override async getChannels() {
    await new Promise((r) => setTimeout(r, 5));
    return [{ name: 'pressure', type: 'timeseries' as const, unit: 'bar' }];
  }
}
`;

let root: string;
let n = 0;
beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'scadalive-plugins-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

/** A fresh directory holding `files` (name → source). */
async function pluginDir(files: Record<string, string>): Promise<string> {
  const dir = path.join(root, `d${n++}`);
  await mkdir(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return dir;
}

const app = { logger: pino({ level: 'silent' }), baseDir: '/', version: 'test' };

describe('plugin discovery', () => {
  it('loads .js (module.exports) and .ts (export default) plugins and ignores everything else', async () => {
    const dir = await pluginDir({
      'datasource_echo.js': JS_PLUGIN,
      'datasource_gauge.ts': TS_PLUGIN,
      'datasource_gauge.test.ts': 'throw new Error("a test is not a plugin")',
      'datasource_types.d.ts': 'export {};',
      'datasource_Upper.ts': 'throw new Error("not lowercase")',
      'datasource_dash-name.js': 'throw new Error("bad name")',
      'helpers.ts': 'throw new Error("not a plugin")',
      'README.md': '# plugins',
    });
    await mkdir(path.join(dir, 'datasource_folder.js'));

    expect((await findPluginFiles(dir)).map((f) => f.name)).toEqual(['echo', 'gauge']);
    const plugins = await loadPlugins({ dir });
    expect([...plugins.keys()].sort()).toEqual(['echo', 'gauge']);

    // The loaded classes really work, through the registry.
    const registry = new Registry({ plugins, app });
    const report = await registry.start([
      { id: 'e', plugin: 'echo' },
      { id: 'g', plugin: 'gauge' },
    ]);
    expect(report).toEqual({ ready: ['e', 'g'], failed: [] });
    expect(await registry.get('e').channels()).toEqual([{ name: 'echo', type: 'timeseries' }]);
    expect(await registry.get('g').channel('pressure')).toMatchObject({ unit: 'bar' });
    const set = await registry.get('e').timeseries(['echo'], 10_000, 10_000);
    expect(Array.from(set.echo.values)).toEqual([1, 2]);
    expect(set.echo.times).toBeInstanceOf(Float64Array);
    await registry.stop();
  });

  it('returns built-ins with user plugins, and refuses a user plugin named like a built-in', async () => {
    class Builtin extends DataSource {}
    const builtins = new Map<string, DataSourceClass>([['scada', Builtin]]);
    const ok = await loadPlugins({ dir: await pluginDir({ 'datasource_echo.js': JS_PLUGIN }), builtins });
    expect([...ok.keys()]).toEqual(['scada', 'echo']);

    const dir = await pluginDir({ 'datasource_scada.js': JS_PLUGIN });
    await expect(loadPlugins({ dir, builtins })).rejects.toMatchObject({
      code: 'INVALID_PLUGIN',
      message: expect.stringContaining(`plugin file ${path.join(dir, 'datasource_scada.js')} is named "scada", which is a built-in plugin`),
    });
  });

  it('treats a missing default directory as no plugins, but a missing configured one as an error', async () => {
    const missing = path.join(root, 'does-not-exist');
    expect((await loadPlugins({ dir: missing })).size).toBe(0);
    await expect(loadPlugins({ dir: missing, required: true })).rejects.toMatchObject({
      code: 'BAD_PARAMS',
      field: 'pluginsDir',
      message: `cannot read plugins directory ${missing}: directory not found`,
    });
  });

  it('refuses two files defining the same plugin', async () => {
    const dir = await pluginDir({ 'datasource_echo.js': JS_PLUGIN, 'datasource_echo.ts': TS_PLUGIN });
    await expect(loadPlugins({ dir })).rejects.toMatchObject({ code: 'INVALID_PLUGIN', message: expect.stringContaining('two files define plugin "echo"') });
  });
});

describe('invalid plugin files', () => {
  it('names the file whose default export does not derive from DataSource', async () => {
    const dir = await pluginDir({ 'datasource_plain.js': 'module.exports = class Plain { getChannels() { return []; } };' });
    const file = path.join(dir, 'datasource_plain.js');
    await expect(loadPlugins({ dir })).rejects.toMatchObject({
      code: 'INVALID_PLUGIN',
      message: `plugin file ${file}: default export "Plain" does not derive from DataSource`,
    });
  });

  it('refuses the DataSource base class itself', async () => {
    const dir = await pluginDir({ 'datasource_base.js': `module.exports = require(${JSON.stringify(BASE)}).DataSource;` });
    await expect(loadPlugins({ dir })).rejects.toMatchObject({ code: 'INVALID_PLUGIN', message: expect.stringContaining('exports the DataSource base class itself') });
  });

  it('hints at a named export when there is no default', async () => {
    const dir = await pluginDir({
      'datasource_named.ts': `import { DataSource } from ${JSON.stringify(BASE_NO_EXT)};\nexport class Named extends DataSource {}\n`,
    });
    await expect(loadPlugins({ dir })).rejects.toMatchObject({
      code: 'INVALID_PLUGIN',
      message: expect.stringMatching(/has no default export of a DataSource class; it has named export Named — export the class as default$/),
    });
  });

  it('reports a file that fails to load with its error', async () => {
    const dir = await pluginDir({ 'datasource_broken.js': 'throw new Error("boom at load");' });
    await expect(loadPluginFile(path.join(dir, 'datasource_broken.js'))).rejects.toMatchObject({
      code: 'INVALID_PLUGIN',
      message: expect.stringMatching(/datasource_broken\.js failed to load: boom at load$/),
    });
  });

  it('unwraps a CommonJS module that exports { default: Class }', async () => {
    const dir = await pluginDir({
      'datasource_wrapped.js': `const { DataSource } = require(${JSON.stringify(BASE)});\nmodule.exports = { default: class Wrapped extends DataSource {} };\n`,
    });
    expect((await loadPluginFile(path.join(dir, 'datasource_wrapped.js'))).name).toBe('Wrapped');
  });
});

describe('pickPluginClass', () => {
  class Mine extends DataSource {}
  it.each([
    ['a default export', { default: Mine }],
    ['module.exports = Class', Mine],
    ['a double-wrapped default', { default: { default: Mine } }],
  ])('accepts %s', (_, mod) => {
    expect(pickPluginClass(mod, 'f.js')).toBe(Mine);
  });

  it('refuses a module without any class', () => {
    expect(() => pickPluginClass({ default: 42 }, 'f.js')).toThrow('plugin file f.js has no default export of a DataSource class');
  });
});
