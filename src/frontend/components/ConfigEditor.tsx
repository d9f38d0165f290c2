/** Data source settings: sidecar URL (the proxy routes' target), read key and control key (secrets), live transport. */
import type { DataSourcePluginOptionsEditorProps } from '@grafana/data';
import { Field, Input, RadioButtonGroup, SecretInput } from '@grafana/ui';
import type { ChangeEvent } from 'react';
import type { LiveTransport, ScadaOptions, ScadaSecureOptions } from '../types';

type Props = DataSourcePluginOptionsEditorProps<ScadaOptions, ScadaSecureOptions>;

const TRANSPORTS: Array<{ label: string; value: LiveTransport; description: string }> = [
  { label: 'WebSocket', value: 'websocket', description: 'One socket shared by all panels' },
  { label: 'HTTP stream', value: 'http', description: 'Chunked HTTP, for proxies that block WebSockets' },
];

export function ConfigEditor({ options, onOptionsChange }: Props) {
  const { jsonData, secureJsonFields } = options;
  const secure = options.secureJsonData ?? {};
  const setJson = (patch: Partial<ScadaOptions>) => onOptionsChange({ ...options, jsonData: { ...jsonData, ...patch } });
  /** A secret's input props; `flag` mirrors "is it set" into jsonData, which every user's browser can read. */
  const secret = (key: keyof ScadaSecureOptions, flag?: (set: boolean) => Partial<ScadaOptions>) => ({
    isConfigured: !!secureJsonFields?.[key],
    value: secure[key] ?? '',
    onChange: (e: ChangeEvent<HTMLInputElement>) =>
      onOptionsChange({
        ...options,
        ...(flag ? { jsonData: { ...jsonData, ...flag(e.currentTarget.value !== '' || !!secureJsonFields?.[key]) } } : {}),
        secureJsonData: { ...secure, [key]: e.currentTarget.value },
      }),
    onReset: () =>
      onOptionsChange({
        ...options,
        ...(flag ? { jsonData: { ...jsonData, ...flag(false) } } : {}),
        secureJsonFields: { ...secureJsonFields, [key]: false },
        secureJsonData: { ...secure, [key]: '' },
      }),
  });

  return (
    <>
      <Field label="Sidecar URL" description="Where the Grafana server reaches the SCADA Live sidecar, e.g. http://sidecar:3210">
        <Input
          id="scada-sidecar-url"
          width={50}
          placeholder="http://localhost:3210"
          value={jsonData.url ?? ''}
          onChange={(e: ChangeEvent<HTMLInputElement>) => setJson({ url: e.currentTarget.value })}
        />
      </Field>
      <Field label="API key" description="A read key, sent by Grafana's proxy for every user of the data source; never reaches the browser. Never put a control key here.">
        <SecretInput id="scada-api-key" width={50} placeholder="sidecar API key" {...secret('apiKey')} />
      </Field>
      <Field
        label="Control key"
        description="Optional. A control key lets Editors and Admins write to devices (Grafana's proxy refuses the write route to Viewers); leave empty for read-only"
      >
        <SecretInput id="scada-control-key" width={50} placeholder="sidecar control key" {...secret('controlKey', (set) => ({ controlKeySet: set }))} />
      </Field>
      <Field label="Live transport">
        <RadioButtonGroup<LiveTransport>
          options={TRANSPORTS}
          value={jsonData.liveTransport ?? 'websocket'}
          onChange={(v) => setJson({ liveTransport: v })}
        />
      </Field>
    </>
  );
}
