/**
 * The panel: Grafana's own time series graph (@grafana/ui's uPlot-based TimeSeries) over
 * the frames as Grafana's panel pipeline would hand them to it, with field overrides
 * applied (that is where display processors and colours come from).
 */
import { applyFieldOverrides, dateTime, FieldColorModeId, type DataFrame } from '@grafana/data';
import { LegendDisplayMode } from '@grafana/schema';
import { TimeSeries, useTheme2 } from '@grafana/ui';

interface Props {
  frames: DataFrame[];
  emissions: number;
  rangeMs: number;
  width: number;
  height: number;
}

export function LiveChart({ frames, emissions, rangeMs, width, height }: Props) {
  const theme = useTheme2();
  // Set on the fields themselves: outside Grafana the field config registry that would
  // apply panel defaults is empty. The palette colours go by each graphed field's index.
  let seriesIndex = 0;
  const styled = frames.map((frame) => ({
    ...frame,
    fields: frame.fields.map((field) =>
      field.type === 'number'
        ? {
            ...field,
            config: {
              ...field.config,
              color: { mode: FieldColorModeId.PaletteClassic },
              custom: { lineWidth: 2, fillOpacity: 10, showPoints: 'never' },
            },
            state: { ...field.state, seriesIndex: seriesIndex++ },
          }
        : field,
    ),
  }));
  const prepared = applyFieldOverrides({
    data: styled,
    fieldConfig: { defaults: {}, overrides: [] },
    replaceVariables: (v: string) => v,
    theme,
    timeZone: 'browser',
  });
  const now = Date.now();
  const timeRange = { from: dateTime(now - rangeMs), to: dateTime(now), raw: { from: `now-${rangeMs / 60_000}m`, to: 'now' } };
  return (
    <TimeSeries
      frames={prepared}
      structureRev={emissions}
      width={width}
      height={height}
      timeRange={timeRange}
      timeZone="browser"
      legend={{ displayMode: LegendDisplayMode.List, placement: 'bottom', showLegend: true, calcs: [] }}
    />
  );
}
