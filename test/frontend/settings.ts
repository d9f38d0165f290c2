/** A data source's settings as Grafana hands them to a config editor, for tests and the browser harness. */
import type { DataSourceSettings } from '@grafana/data';
import type { ScadaOptions, ScadaSecureOptions } from '../../src/frontend/types';

export function dataSourceSettings(
  overrides: Partial<DataSourceSettings<ScadaOptions, ScadaSecureOptions>> = {},
): DataSourceSettings<ScadaOptions, ScadaSecureOptions> {
  return {
    id: 1,
    uid: 'scada',
    orgId: 1,
    name: 'SCADA Live',
    type: 'scadalive-scada-datasource',
    typeName: 'SCADA Live',
    typeLogoUrl: '',
    access: 'proxy',
    url: '',
    user: '',
    database: '',
    basicAuth: false,
    basicAuthUser: '',
    isDefault: false,
    withCredentials: false,
    readOnly: false,
    jsonData: { url: 'http://sidecar:3210' },
    secureJsonFields: {},
    ...overrides,
  } as DataSourceSettings<ScadaOptions, ScadaSecureOptions>;
}
