/** Query editor: instance, channels (searched on the sidecar), kind, reducer, interval, live, legend; a write control for Editors. */
import type { QueryEditorProps, SelectableValue } from '@grafana/data';
import { AsyncMultiSelect, InlineField, InlineFieldRow, InlineSwitch, Input, RadioButtonGroup, Select } from '@grafana/ui';
import { useEffect, useState, type ChangeEvent } from 'react';
import type { DataSource } from '../datasource';
import { WriteControl } from './WriteControl';
import { QUERY_KINDS, REDUCERS, type QueryKind, type Reducer, type ScadaOptions, type ScadaQuery } from '../types';

type Props = QueryEditorProps<DataSource, ScadaQuery, ScadaOptions>;

const KIND_OPTIONS = QUERY_KINDS.map((k) => ({ label: k === 'timeseries' ? 'Time series' : 'Object', value: k }));
const REDUCER_OPTIONS = REDUCERS.map((r) => ({ label: r, value: r }));
const LABEL_WIDTH = 14;

export function QueryEditor({ query, datasource, onChange, onRunQuery }: Props) {
  const [instances, setInstances] = useState<string[]>([]);
  const [loadError, setLoadError] = useState<string>();
  const [writable, setWritable] = useState<string>();

  // Write controls only for a single writable point, and only for users who may write.
  const single = query.channels?.length === 1 ? query.channels[0] : undefined;
  useEffect(() => {
    let live = true;
    setWritable(undefined);
    if (!single || !query.instance || !datasource.canWrite()) return;
    datasource
      .listChannels({ instance: query.instance, search: single, limit: 200 })
      .then(({ channels }) => live && setWritable(channels.some((c) => c.name === single && c.writable === true) ? single : undefined))
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [datasource, query.instance, single]);

  useEffect(() => {
    let live = true;
    datasource
      .listInstances()
      .then((list) => live && setInstances(list))
      .catch((e: unknown) => live && setLoadError(`Cannot list instances: ${(e as Error)?.message ?? e}`));
    return () => {
      live = false;
    };
  }, [datasource]);

  const update = (patch: Partial<ScadaQuery>, run = true) => {
    onChange({ ...query, ...patch });
    if (run) onRunQuery();
  };

  // The sidecar filters by name/unit/description; template variables stay selectable as typed.
  const loadChannels = async (search: string): Promise<Array<SelectableValue<string>>> => {
    if (!query.instance) return [];
    const { channels } = await datasource.listChannels({ instance: query.instance, search: search || undefined, limit: 200 });
    return channels.map((c) => ({ label: c.name, value: c.name, description: [c.unit, c.description].filter(Boolean).join(' · ') }));
  };

  const instanceOptions = instances.map((i) => ({ label: i, value: i }));
  if (query.instance && !instances.includes(query.instance)) instanceOptions.push({ label: query.instance, value: query.instance });

  return (
    <>
      <InlineFieldRow>
        <InlineField label="Instance" labelWidth={LABEL_WIDTH} invalid={!!loadError} error={loadError}>
          <Select
            inputId="scada-instance"
            width={24}
            options={instanceOptions}
            value={query.instance || null}
            allowCustomValue
            placeholder="data source instance"
            onChange={(v: SelectableValue<string>) => update({ instance: v?.value ?? '', channels: [] }, false)}
          />
        </InlineField>
        <InlineField label="Channels" labelWidth={LABEL_WIDTH} grow>
          <AsyncMultiSelect<string>
            key={query.instance /* new instance, new option list */}
            inputId="scada-channels"
            loadOptions={loadChannels}
            defaultOptions
            allowCustomValue
            placeholder="search channels"
            value={(query.channels ?? []).map((c) => ({ label: c, value: c }))}
            onChange={(v: Array<SelectableValue<string>>) => update({ channels: v.map((o) => o.value!).filter(Boolean) })}
          />
        </InlineField>
      </InlineFieldRow>
      <InlineFieldRow>
        <InlineField label="Kind" labelWidth={LABEL_WIDTH}>
          <RadioButtonGroup<QueryKind> options={KIND_OPTIONS} value={query.kind ?? 'timeseries'} onChange={(kind) => update({ kind })} />
        </InlineField>
        <InlineField label="Reducer" labelWidth={LABEL_WIDTH}>
          <Select<Reducer>
            inputId="scada-reducer"
            width={14}
            options={REDUCER_OPTIONS}
            value={query.reducer ?? 'last'}
            onChange={(v) => update({ reducer: v.value })}
          />
        </InlineField>
        <InlineField label="Interval" labelWidth={LABEL_WIDTH} tooltip="Bucket width in ms; empty = the panel's interval">
          <Input
            id="scada-interval"
            type="number"
            width={12}
            placeholder="auto"
            defaultValue={query.resampling ?? ''}
            onBlur={(e: ChangeEvent<HTMLInputElement>) => {
              const v = e.currentTarget.value;
              update({ resampling: v === '' ? undefined : Number(v) });
            }}
          />
        </InlineField>
        <InlineField label="Live" labelWidth={LABEL_WIDTH} tooltip="Append new data while the range ends at now">
          <InlineSwitch
            id="scada-live"
            value={query.live !== false}
            onChange={(e: ChangeEvent<HTMLInputElement>) => update({ live: e.currentTarget.checked })}
          />
        </InlineField>
        <InlineField label="Legend" labelWidth={LABEL_WIDTH} tooltip="e.g. {{instance}} {{channel}}">
          <Input
            id="scada-legend"
            width={24}
            defaultValue={query.legend ?? ''}
            onBlur={(e: ChangeEvent<HTMLInputElement>) => update({ legend: e.currentTarget.value || undefined })}
          />
        </InlineField>
      </InlineFieldRow>
      {writable && <WriteControl datasource={datasource} channel={writable} />}
    </>
  );
}
