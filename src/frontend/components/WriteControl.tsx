/**
 * Writes a value to the query's one writable SCADA point, for Editors and Admins of a data
 * source with a control key (DataSource.canWrite). The sidecar writes, reads back and says
 * whose fault a failure was; this shows either answer as it came.
 */
import { Button, InlineField, InlineFieldRow, Input } from '@grafana/ui';
import { useState, type ChangeEvent } from 'react';
import type { DataSource } from '../datasource';
import { errorMessage } from '../live';

interface Props {
  datasource: DataSource;
  channel: string;
}

export function WriteControl({ datasource, channel }: Props) {
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ ok: boolean; message: string }>();

  const value = parseValue(text);
  const write = async () => {
    if (value === undefined) return;
    setBusy(true);
    setResult(undefined);
    try {
      const answer = await datasource.writeChannel(channel, value);
      setResult({ ok: true, message: `written; read back ${JSON.stringify((answer.reading as { value?: unknown } | null)?.value ?? answer.reading)}` });
    } catch (err) {
      setResult({ ok: false, message: errorMessage(err) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <InlineFieldRow>
      <InlineField
        label="Write"
        labelWidth={14}
        tooltip={`Writes to ${channel} on the device, then reads it back`}
        invalid={result?.ok === false || (text !== '' && value === undefined)}
        error={text !== '' && value === undefined ? 'a number, true or false' : result?.message}
      >
        <Input
          id="scada-write-value"
          width={16}
          placeholder="value"
          value={text}
          onChange={(e: ChangeEvent<HTMLInputElement>) => setText(e.currentTarget.value)}
        />
      </InlineField>
      <Button id="scada-write" size="md" variant="destructive" disabled={busy || value === undefined} onClick={write}>
        Write
      </Button>
      {result?.ok && <span data-testid="scada-write-result">{result.message}</span>}
    </InlineFieldRow>
  );
}

function parseValue(text: string): number | boolean | undefined {
  const t = text.trim();
  if (t === 'true' || t === 'false') return t === 'true';
  if (t === '') return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}
