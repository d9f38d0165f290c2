/** The plugin's entry: Grafana loads dist/module.js (AMD) and reads `plugin`. */
import { DataSourcePlugin } from '@grafana/data';
import { ConfigEditor } from './components/ConfigEditor';
import { QueryEditor } from './components/QueryEditor';
import { VariableQueryEditor } from './components/VariableQueryEditor';
import { DataSource } from './datasource';
import type { ScadaOptions, ScadaQuery, ScadaSecureOptions } from './types';

export const plugin = new DataSourcePlugin<DataSource, ScadaQuery, ScadaOptions, ScadaSecureOptions>(DataSource)
  .setConfigEditor(ConfigEditor)
  .setQueryEditor(QueryEditor)
  .setVariableQueryEditor(VariableQueryEditor);
