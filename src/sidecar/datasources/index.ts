/**
 * The built-in DataSource plugins, name → class, as `loadPlugins({ builtins })` and
 * `new Registry({ plugins })` take them. User plugins may not reuse these names.
 */
import type { DataSourceClass } from '../registry/datasource';
import SimulatorDataSource from './simulator';

/**
 * The `scada` plugin is built in too, but its class is bound to the store and the device
 * manager (`createScadaDataSourceClass`), so the composition root adds it under this name.
 */
export const SCADA_PLUGIN = 'scada';

export const BUILTIN_PLUGINS: ReadonlyMap<string, DataSourceClass> = new Map<string, DataSourceClass>([['simulator', SimulatorDataSource]]);
