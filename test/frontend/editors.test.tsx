/**
 * @jest-environment jsdom
 *
 * Both editors rendered with React Testing Library; the query editor's channel list comes
 * from the real sidecar (through the proxy), as in Grafana.
 */
import '@testing-library/jest-dom/jest-globals';
import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';
import type { DataSourceInstanceSettings } from '@grafana/data';
import { ConfigEditor } from '../../src/frontend/components/ConfigEditor';
import { QueryEditor } from '../../src/frontend/components/QueryEditor';
import { DataSource } from '../../src/frontend/datasource';
import type { ScadaOptions, ScadaQuery } from '../../src/frontend/types';
import { installBackendSrv, installTemplateSrv, startProxiedSidecar, type ProxiedSidecar } from './grafana-env';
import { dataSourceSettings } from './settings';

let env: ProxiedSidecar;
beforeAll(async () => {
  installBackendSrv();
  installTemplateSrv({});
  env = await startProxiedSidecar();
}, 30_000);
afterAll(async () => {
  await env?.stop();
});

const settings = dataSourceSettings;

describe('ConfigEditor', () => {
  it('edits the sidecar URL, the API key as a secret and the live transport', () => {
    const onOptionsChange = jest.fn();
    const { rerender } = render(<ConfigEditor options={settings()} onOptionsChange={onOptionsChange} />);
    const url = screen.getByPlaceholderText('http://localhost:3210');
    expect(url).toHaveValue('http://sidecar:3210');
    fireEvent.change(url, { target: { value: 'http://other:1' } });
    expect(onOptionsChange).toHaveBeenLastCalledWith(
      expect.objectContaining({ jsonData: expect.objectContaining({ url: 'http://other:1' }) }),
    );

    fireEvent.change(screen.getByPlaceholderText('sidecar API key'), { target: { value: 'k-0123456789abcdef' } });
    expect(onOptionsChange).toHaveBeenLastCalledWith(expect.objectContaining({ secureJsonData: { apiKey: 'k-0123456789abcdef' } }));

    fireEvent.click(screen.getByText('HTTP stream'));
    expect(onOptionsChange).toHaveBeenLastCalledWith(
      expect.objectContaining({ jsonData: expect.objectContaining({ liveTransport: 'http' }) }),
    );

    // A stored key is never shown; it can only be reset.
    rerender(<ConfigEditor options={settings({ secureJsonFields: { apiKey: true } })} onOptionsChange={onOptionsChange} />);
    expect(screen.getByDisplayValue('configured')).toBeDisabled();
    fireEvent.click(screen.getByRole('button', { name: /reset/i }));
    expect(onOptionsChange).toHaveBeenLastCalledWith(expect.objectContaining({ secureJsonFields: { apiKey: false } }));
  });
});

describe('QueryEditor', () => {
  const ds = () =>
    new DataSource({
      id: 1,
      uid: 'scada',
      name: 'SCADA Live',
      type: 'scadalive-scada-datasource',
      url: env.proxyUrl,
      jsonData: {},
      meta: {},
    } as unknown as DataSourceInstanceSettings<ScadaOptions>);

  it('shows the query and offers the sidecar channels, searchable', async () => {
    const onChange = jest.fn();
    const onRunQuery = jest.fn();
    const query: ScadaQuery = { refId: 'A', instance: 'fast', channels: ['sine'], kind: 'timeseries', reducer: 'mean', live: true };
    render(<QueryEditor datasource={ds()} query={query} onChange={onChange} onRunQuery={onRunQuery} />);

    expect(screen.getByText('fast')).toBeInTheDocument();
    expect(screen.getByText('sine')).toBeInTheDocument();
    expect(screen.getByText('mean')).toBeInTheDocument();
    expect(screen.getByRole('switch')).toBeChecked();

    // Typing in the channel picker asks the sidecar and lists what matches.
    const input = document.getElementById('scada-channels') as HTMLInputElement;
    await act(async () => {
      fireEvent.focus(input);
      fireEvent.change(input, { target: { value: 'ram' } });
    });
    const option = await screen.findByText('ramp', {}, { timeout: 5000 });
    await act(async () => {
      fireEvent.click(option);
    });
    expect(onChange).toHaveBeenLastCalledWith(expect.objectContaining({ channels: ['sine', 'ramp'] }));
    expect(onRunQuery).toHaveBeenCalled();

    // Live off, kind object, legend, interval.
    fireEvent.click(screen.getByRole('switch'));
    expect(onChange).toHaveBeenLastCalledWith(expect.objectContaining({ live: false }));
    fireEvent.click(screen.getByText('Object'));
    expect(onChange).toHaveBeenLastCalledWith(expect.objectContaining({ kind: 'object' }));
    const legend = document.getElementById('scada-legend') as HTMLInputElement;
    fireEvent.change(legend, { target: { value: '{{channel}}' } });
    fireEvent.blur(legend);
    expect(onChange).toHaveBeenLastCalledWith(expect.objectContaining({ legend: '{{channel}}' }));
    const interval = document.getElementById('scada-interval') as HTMLInputElement;
    fireEvent.change(interval, { target: { value: '500' } });
    fireEvent.blur(interval);
    expect(onChange).toHaveBeenLastCalledWith(expect.objectContaining({ resampling: 500 }));
  });

  it('lists the sidecar instances', async () => {
    render(
      <QueryEditor datasource={ds()} query={{ refId: 'A', instance: '', channels: [] }} onChange={jest.fn()} onRunQuery={jest.fn()} />,
    );
    const input = document.getElementById('scada-instance') as HTMLInputElement;
    await waitFor(async () => {
      fireEvent.keyDown(input, { key: 'ArrowDown' });
      expect(await screen.findByText('sim')).toBeInTheDocument();
    });
    expect(screen.getByText('csv')).toBeInTheDocument();
  });
});
