/**
 * Discovers user DataSource plugins: every `datasource_<name>.(js|mjs|ts)` file in one
 * directory whose default export is a class deriving from `DataSource`.
 */
import { readdir, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import { AppError } from '../errors';
import { DATASOURCE_BRAND, isDataSourceClass, type DataSourceClass } from './datasource';

export const PLUGIN_FILE = /^datasource_([a-z0-9_]+)\.(js|mjs|ts)$/;
/** Looks like a plugin but isn't one: worth a warning so a misnamed file isn't a mystery. */
const NEAR_MISS = /^datasource_.*\.(js|mjs|cjs|ts|mts|cts)$/i;

export interface PluginFile {
  name: string;
  file: string;
}

export interface LoadPluginsOptions {
  /** Directory to scan (absolute, or relative to the working directory). */
  dir: string;
  /** Built-in plugins; a user plugin may not reuse one of their names. */
  builtins?: ReadonlyMap<string, DataSourceClass>;
  /**
   * When true a missing directory is an error (it was configured explicitly). When false
   * (the default `plugins` dir) a missing directory just means "no user plugins".
   */
  required?: boolean;
  logger?: Logger;
}

/**
 * Loads every plugin in `dir` and returns built-ins and user plugins together, name → class,
 * ready for `new Registry({ plugins })`. Any bad plugin file fails the whole load with
 * INVALID_PLUGIN: a broken plugin directory is a deployment error best seen at start.
 */
export async function loadPlugins(options: LoadPluginsOptions): Promise<Map<string, DataSourceClass>> {
  const plugins = new Map(options.builtins ?? []);
  const files = await findPluginFiles(options.dir, options);
  for (const { name, file } of files) {
    if (plugins.has(name)) {
      throw new AppError(
        'INVALID_PLUGIN',
        `plugin file ${file} is named "${name}", which is a built-in plugin; rename the file (datasource_<other>.${path.extname(file).slice(1)})`,
      );
    }
    plugins.set(name, await loadPluginFile(file));
    options.logger?.info({ plugin: name, file }, 'loaded data source plugin');
  }
  return plugins;
}

/** Lists plugin files in `dir`, sorted by name; see `LoadPluginsOptions.required`. */
export async function findPluginFiles(dir: string, options: { required?: boolean; logger?: Logger } = {}): Promise<PluginFile[]> {
  const abs = path.resolve(dir);
  let entries: string[];
  try {
    entries = await readdir(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !options.required) return [];
    const why = code === 'ENOENT' ? 'directory not found' : code === 'ENOTDIR' ? 'not a directory' : (err as Error).message;
    throw new AppError('BAD_PARAMS', `cannot read plugins directory ${abs}: ${why}`, 'pluginsDir');
  }

  const found: PluginFile[] = [];
  const byName = new Map<string, string>();
  for (const entry of entries.sort()) {
    if (entry.endsWith('.test.ts') || entry.endsWith('.d.ts')) continue;
    const m = PLUGIN_FILE.exec(entry);
    if (!m) {
      if (NEAR_MISS.test(entry)) options.logger?.warn({ file: path.join(abs, entry) }, 'ignored: plugin files are named datasource_<a-z0-9_>.(js|mjs|ts)');
      continue;
    }
    const file = path.join(abs, entry);
    // stat (not lstat) so a symlinked plugin file counts; a directory with a plugin-like name doesn't.
    if (!(await stat(file).catch(() => null))?.isFile()) continue;
    const name = m[1];
    const other = byName.get(name);
    if (other) {
      throw new AppError('INVALID_PLUGIN', `two files define plugin "${name}": ${other} and ${file}; keep one`);
    }
    byName.set(name, file);
    found.push({ name, file });
  }
  return found;
}

/** Imports one plugin file and returns its DataSource class, or throws INVALID_PLUGIN saying why. */
export async function loadPluginFile(file: string): Promise<DataSourceClass> {
  let mod: unknown;
  try {
    mod = await import(importSpecifier(file));
  } catch (err) {
    throw new AppError('INVALID_PLUGIN', `plugin file ${file} failed to load: ${err instanceof Error ? err.message : String(err)}`);
  }
  return pickPluginClass(mod, file);
}

/**
 * POSIX absolute paths work for both Node's ESM `import()` and the `require()` jest/swc turn
 * it into; Windows drive paths must be file URLs for ESM.
 */
function importSpecifier(file: string): string {
  return process.platform === 'win32' ? pathToFileURL(file).href : file;
}

/**
 * Finds the plugin class in a loaded module. Accepts `export default Class`, CommonJS
 * `module.exports = Class`, and the `{ default: { default: Class } }` that ESM-importing a
 * transpiled CommonJS module produces.
 */
export function pickPluginClass(mod: unknown, file: string): DataSourceClass {
  const layer1 = prop(mod, 'default');
  const candidates = [prop(layer1, 'default'), layer1, mod];
  const cls = candidates.find((c) => typeof c === 'function');
  if (cls === undefined) {
    const named = namedDataSourceExports(mod);
    const hint = named.length ? `; it has named export${named.length > 1 ? 's' : ''} ${named.join(', ')} — export the class as default` : '';
    throw new AppError('INVALID_PLUGIN', `plugin file ${file} has no default export of a DataSource class${hint}`);
  }
  if (!isDataSourceClass(cls)) {
    throw new AppError('INVALID_PLUGIN', `plugin file ${file}: default export ${describe(cls)} does not derive from DataSource`);
  }
  // The base class owns the brand; subclasses only inherit it (works across module copies).
  if (Object.prototype.hasOwnProperty.call(cls, DATASOURCE_BRAND)) {
    throw new AppError('INVALID_PLUGIN', `plugin file ${file} exports the DataSource base class itself; export a class that extends it`);
  }
  return cls;
}

function prop(value: unknown, key: string): unknown {
  return value !== null && (typeof value === 'object' || typeof value === 'function') ? (value as Record<string, unknown>)[key] : undefined;
}

function namedDataSourceExports(mod: unknown): string[] {
  if (mod === null || typeof mod !== 'object') return [];
  return Object.entries(mod as Record<string, unknown>)
    .filter(([k, v]) => k !== 'default' && isDataSourceClass(v))
    .map(([k]) => k);
}

function describe(fn: unknown): string {
  const name = (fn as { name?: unknown }).name;
  return typeof name === 'string' && name ? `"${name}"` : '(anonymous function)';
}
