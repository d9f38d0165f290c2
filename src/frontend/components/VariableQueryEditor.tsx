/** Template variable query: channels of an instance, filtered by a search (wildcards `*` `?`). */
import { InlineField, InlineFieldRow, Input } from '@grafana/ui';
import { useState, type ChangeEvent } from 'react';
import type { ScadaVariableQuery } from '../types';

interface Props {
  query: ScadaVariableQuery;
  onChange: (query: ScadaVariableQuery, definition: string) => void;
}

export function VariableQueryEditor({ query, onChange }: Props) {
  const [state, setState] = useState<ScadaVariableQuery>(query ?? {});
  const save = () => onChange(state, `channels(${state.instance ?? '*'}${state.search ? `, ${state.search}` : ''})`);
  const field = (name: keyof ScadaVariableQuery) => ({
    id: `scada-var-${name}`,
    value: state[name] ?? '',
    onChange: (e: ChangeEvent<HTMLInputElement>) => setState({ ...state, [name]: e.currentTarget.value }),
    onBlur: save,
  });
  return (
    <InlineFieldRow>
      <InlineField label="Instance" labelWidth={12}>
        <Input width={20} placeholder="all" {...field('instance')} />
      </InlineField>
      <InlineField label="Search" labelWidth={12}>
        <Input width={20} placeholder="e.g. temp*" {...field('search')} />
      </InlineField>
    </InlineFieldRow>
  );
}
