/**
 * The browser harness page: plays the part of Grafana around the built plugin. It loads
 * dist/module.js through an AMD loader with the real shared packages, renders the plugin's
 * config editor and query editor, runs the edited query like a dashboard panel would (the
 * sidecar behind the harness server's copy of Grafana's data source proxy), and shows the
 * result in Grafana's time series graph. `window.harness` reports what the page saw, for
 * the Playwright test.
 */
import {
  createTheme,
  ThemeContext,
  type DataFrame,
  type DataSourceInstanceSettings,
  type DataSourcePlugin,
  type TestDataSourceResponse,
} from '@grafana/data';
import { Button, GlobalStyles } from '@grafana/ui';
import * as React from 'react';
import { useMemo, useState } from 'react';
import { createRoot } from 'react-dom/client';
import type { DataSource } from '../../../src/frontend/datasource';
import type { ScadaOptions, ScadaQuery, ScadaSecureOptions } from '../../../src/frontend/types';
import { dataSourceSettings } from '../../frontend/settings';
import { GRAFANA_SHARED_MODULES } from '../../frontend/shared-modules';
import { installTemplateSrv } from '../../frontend/template-srv';
import type { HarnessReport } from '../report';
import { installBackendSrv } from './backend-srv';
import { LiveChart } from './LiveChart';
import { loadPlugin } from './load-plugin';
import { usePanelData } from './use-panel-data';

/** Written into the page by the harness server. */
interface HarnessConfig {
  pluginId: string;
  uid: string;
  /** The data source proxy base, as Grafana gives it to a data source (`instanceSettings.url`). */
  dsUrl: string;
  sidecarUrl: string;
  transport: 'websocket' | 'http';
  /** The panel's time range: the last this many minutes. */
  rangeMinutes: number;
}

declare global {
  interface Window {
    harnessConfig: HarnessConfig;
    harness: HarnessReport & { health?: TestDataSourceResponse };
  }
}

const MAX_DATA_POINTS = 300;

type Plugin = DataSourcePlugin<DataSource, ScadaQuery, ScadaOptions, ScadaSecureOptions>;

function report(patch: Partial<Window['harness']>): void {
  Object.assign(window.harness, patch);
}

function Section({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <section style={{ marginBottom: 24 }}>
      <h3 style={{ marginBottom: 12 }}>{title}</h3>
      {children}
    </section>
  );
}

function App({ plugin, config }: { plugin: Plugin; config: HarnessConfig }) {
  const [options, setOptions] = useState(() =>
    dataSourceSettings({
      uid: config.uid,
      type: config.pluginId,
      typeLogoUrl: `public/plugins/${config.pluginId}/img/logo.svg`,
      isDefault: true,
      jsonData: { url: config.sidecarUrl, liveTransport: config.transport },
      // The key lives in Grafana's secure store: the browser only learns that it is set.
      secureJsonFields: { apiKey: true },
    }),
  );

  const ds = useMemo(() => {
    const settings = {
      id: 1,
      uid: config.uid,
      type: config.pluginId,
      name: 'SCADA Live',
      access: 'proxy',
      url: config.dsUrl,
      jsonData: { url: config.sidecarUrl, liveTransport: config.transport },
      meta: { id: config.pluginId, streaming: true },
      readOnly: false,
    } as unknown as DataSourceInstanceSettings<ScadaOptions>;
    return new plugin.DataSourceClass(settings);
  }, [plugin, config]);

  const [query, setQuery] = useState<ScadaQuery>(
    () => ({ refId: 'A', ...ds.getDefaultQuery?.(), instance: '', channels: [] }) as ScadaQuery,
  );
  const [runId, setRunId] = useState(0);
  const [health, setHealth] = useState<TestDataSourceResponse>();
  const rangeMs = config.rangeMinutes * 60_000;
  const panel = usePanelData(ds, query, runId, rangeMs, MAX_DATA_POINTS);

  const frame: DataFrame | undefined = panel.frames[0];
  const time = frame?.fields.find((f) => f.type === 'time');
  const times = (time?.values ?? []) as number[];
  let ascending = true;
  for (let i = 1; i < times.length && ascending; i++) ascending = times[i] > times[i - 1];
  const last = (frame?.length ?? 0) - 1;
  report({
    ascending,
    lastValues: last < 0 ? [] : frame!.fields.filter((f) => f !== time).map((f) => (f.values[last] as number | null) ?? null),
    state: panel.state,
    rows: frame?.length ?? 0,
    emissions: panel.emissions,
    fields: frame?.fields.map((f) => f.config.displayNameFromDS ?? f.name) ?? [],
    lastTime: time && frame!.length > 0 ? (time.values[frame!.length - 1] as number) : null,
    errors: panel.errors.map((e) => e.message ?? String(e)),
  });

  const ConfigEditor = plugin.components.ConfigEditor!;
  const QueryEditor = plugin.components.QueryEditor!;

  const test = async () => {
    const result = await ds.testDatasource();
    setHealth(result);
    report({ health: result });
  };

  return (
    <div style={{ padding: 24, maxWidth: 1100 }}>
      <Section title="Data source settings">
        <div id="config-editor">
          <ConfigEditor options={options} onOptionsChange={setOptions} />
        </div>
        <div style={{ marginTop: 12, display: 'flex', gap: 12, alignItems: 'center' }}>
          <Button id="test-datasource" onClick={() => void test()}>
            Save &amp; test
          </Button>
          {health && (
            <span id="health" data-status={health.status}>
              {health.status}: {health.message}
            </span>
          )}
        </div>
      </Section>
      <Section title="Query">
        <div id="query-editor">
          <QueryEditor datasource={ds} query={query} onChange={setQuery} onRunQuery={() => setRunId((n) => n + 1)} />
        </div>
      </Section>
      <Section title="Panel">
        <div id="panel" data-state={panel.state} data-rows={frame?.length ?? 0}>
          {panel.errors.length > 0 && (
            <div id="panel-error" style={{ color: '#f55' }}>
              {panel.errors.map((e) => e.message).join('; ')}
            </div>
          )}
          {frame ? (
            <LiveChart frames={panel.frames} emissions={panel.emissions} rangeMs={rangeMs} width={1000} height={300} />
          ) : (
            <div style={{ height: 300 }}>No data yet: choose an instance and channels.</div>
          )}
          <div id="panel-status" style={{ marginTop: 8, opacity: 0.7 }}>
            {panel.state} · {frame?.length ?? 0} rows · {panel.emissions} updates
          </div>
        </div>
      </Section>
    </div>
  );
}

async function main(): Promise<void> {
  window.harness = {
    ready: false,
    state: 'NotStarted',
    rows: 0,
    emissions: 0,
    fields: [],
    lastTime: null,
    lastValues: [],
    ascending: true,
    errors: [],
  };
  const config = window.harnessConfig;
  installBackendSrv();
  installTemplateSrv({});
  const theme = createTheme({ colors: { mode: 'dark' } });
  const root = createRoot(document.getElementById('root')!);
  try {
    const exports = await loadPlugin(`public/plugins/${config.pluginId}/module.js`, GRAFANA_SHARED_MODULES);
    const plugin = exports.plugin as Plugin;
    root.render(
      <ThemeContext.Provider value={theme}>
        <GlobalStyles />
        <App plugin={plugin} config={config} />
      </ThemeContext.Provider>,
    );
    report({ ready: true });
  } catch (e) {
    report({ loadError: (e as Error).message });
    root.render(<pre id="load-error">{(e as Error).stack}</pre>);
  }
}

void main();
