/** Data source settings: sidecar URL (the proxy route's target), API key (secret), live transport. */
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
      <Field label="API key" description="Sent by Grafana's proxy as a Bearer token; never reaches the browser">
        <SecretInput
          id="scada-api-key"
          width={50}
          placeholder="sidecar API key"
          isConfigured={!!secureJsonFields?.apiKey}
          value={secure.apiKey ?? ''}
          onChange={(e: ChangeEvent<HTMLInputElement>) =>
            onOptionsChange({ ...options, secureJsonData: { ...secure, apiKey: e.currentTarget.value } })
          }
          onReset={() =>
            onOptionsChange({
              ...options,
              secureJsonFields: { ...secureJsonFields, apiKey: false },
              secureJsonData: { ...secure, apiKey: '' },
            })
          }
        />
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
