/**
 * The built-in DataSource plugins, name → class, as `loadPlugins({ builtins })` and
 * `new Registry({ plugins })` take them. User plugins may not reuse these names.
 */
import type { DataSourceClass } from '../registry/datasource';
import SimulatorDataSource from './simulator';

export const BUILTIN_PLUGINS: ReadonlyMap<string, DataSourceClass> = new Map<string, DataSourceClass>([['simulator', SimulatorDataSource]]);
