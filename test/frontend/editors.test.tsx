/**
 * @jest-environment jsdom
 *
 * Both editors rendered with React Testing Library; the query editor's channel list comes
 * from the real sidecar (through the proxy), as in Grafana.
 */
import '@testing-library/jest-dom/jest-globals';
import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';
import type { DataSourceInstanceSettings } from '@grafana/data';
import { config, getBackendSrv } from '@grafana/runtime';
import { lastValueFrom } from 'rxjs';
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

  it('keeps the control key in its own secret and tells every browser only that one is set', () => {
    const onOptionsChange = jest.fn();
    const { rerender } = render(<ConfigEditor options={settings()} onOptionsChange={onOptionsChange} />);
    fireEvent.change(screen.getByPlaceholderText('sidecar control key'), { target: { value: 'c-0123456789abcdef' } });
    const changed = onOptionsChange.mock.lastCall![0];
    expect(changed.secureJsonData).toEqual({ controlKey: 'c-0123456789abcdef' });
    expect(changed.jsonData).toMatchObject({ controlKeySet: true });
    expect(JSON.stringify(changed.jsonData)).not.toContain('c-0123456789abcdef');

    rerender(<ConfigEditor options={settings({ secureJsonFields: { controlKey: true }, jsonData: { url: 'x', controlKeySet: true } })} onOptionsChange={onOptionsChange} />);
    fireEvent.click(screen.getByRole('button', { name: /reset/i }));
    expect(onOptionsChange).toHaveBeenLastCalledWith(
      expect.objectContaining({ secureJsonFields: { controlKey: false }, jsonData: expect.objectContaining({ controlKeySet: false }) }),
    );
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

describe('writes by role', () => {
  const user = config.bootData.user as { orgRole: string; isGrafanaAdmin: boolean };
  const saved = { ...user };
  afterEach(() => Object.assign(user, saved));

  const dsFor = (url: string, controlKeySet = true) =>
    new DataSource({
      id: 1,
      uid: 'scada',
      name: 'SCADA Live',
      type: 'scadalive-scada-datasource',
      url,
      jsonData: { controlKeySet },
      meta: {},
    } as unknown as DataSourceInstanceSettings<ScadaOptions>);
  const pointQuery = (channel: string): ScadaQuery => ({ refId: 'A', instance: 'points', channels: [channel] });

  it('shows write controls to Editors and Admins of a data source with a control key, only', () => {
    for (const [role, admin, keySet, expected] of [
      ['Viewer', false, true, false],
      ['Editor', false, true, true],
      ['Admin', false, true, true],
      ['Viewer', true, true, true],
      ['Admin', false, false, false],
    ] as const) {
      Object.assign(user, { orgRole: role, isGrafanaAdmin: admin });
      expect([role, admin, keySet, dsFor(env.proxyUrl, keySet).canWrite()]).toEqual([role, admin, keySet, expected]);
    }
  });

  it('an Editor gets a write control for a writable point; the write goes through the control route with the control key', async () => {
    Object.assign(user, { orgRole: 'Editor', isGrafanaAdmin: false });
    render(<QueryEditor datasource={dsFor(env.proxyUrl)} query={pointQuery('plc9/unit1/setpoint')} onChange={jest.fn()} onRunQuery={jest.fn()} />);
    const input = (await waitFor(() => {
      const el = document.getElementById('scada-write-value');
      expect(el).not.toBeNull();
      return el;
    })) as HTMLInputElement;
    fireEvent.change(input, { target: { value: '5.25' } });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Write' }));
    });
    // The sidecar itself answered (it knows no device plc9: 404): the proxy let the Editor through and
    // injected a key that may write, or the answer would be 403.
    await waitFor(() => expect(document.body.textContent).toMatch(/device "plc9" does not exist/), { timeout: 5000 });
  });

  it('no write control for a point that is not writable, nor for a Viewer', async () => {
    Object.assign(user, { orgRole: 'Editor', isGrafanaAdmin: false });
    const ds = dsFor(env.proxyUrl);
    const listed = jest.spyOn(ds, 'listChannels');
    const { unmount } = render(<QueryEditor datasource={ds} query={pointQuery('plc9/unit1/level')} onChange={jest.fn()} onRunQuery={jest.fn()} />);
    await waitFor(() => expect(listed).toHaveBeenCalledWith(expect.objectContaining({ search: 'plc9/unit1/level' })));
    await act(async () => {
      await listed.mock.results.at(-1)!.value;
    });
    expect(document.getElementById('scada-write-value')).toBeNull();
    unmount();

    Object.assign(user, { orgRole: 'Viewer' });
    render(<QueryEditor datasource={dsFor(env.proxyUrl)} query={pointQuery('plc9/unit1/setpoint')} onChange={jest.fn()} onRunQuery={jest.fn()} />);
    expect(document.getElementById('scada-write-value')).toBeNull();
  });

  it("Grafana's proxy refuses the control route to a Viewer, whatever the frontend shows", async () => {
    Object.assign(user, { orgRole: 'Viewer', isGrafanaAdmin: false });
    await expect(dsFor(env.viewerProxyUrl).writeChannel('plc9/unit1/setpoint', 1)).rejects.toMatchObject({ status: 403 });
    // The read route carries the read key: the sidecar itself refuses a write through it.
    const viaReadRoute = lastValueFrom(
      getBackendSrv().fetch({
        url: `${env.proxyUrl}/sidecar/api/v1/device_ctrl`,
        method: 'POST',
        data: { device_id: 'plc9', term_id: 'unit1', item_id: 'setpoint', value: 1 },
      }),
    );
    await expect(viaReadRoute).rejects.toMatchObject({ status: 403, data: { error: { code: 'FORBIDDEN' } } });
  });
});
