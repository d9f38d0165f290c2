/**
 * How a channel becomes a Grafana field: unit mapped to Grafana's unit ids where one
 * exists (else shown as a suffix), display name from the legend template, labels from the
 * channel's metadata. Query and stream share this so history and live look the same.
 */
import type { NumberFieldSpec } from '../../common/frames';
import type { Channel } from '../registry/types';

/** SCADA unit spellings → Grafana unit ids. */
const GRAFANA_UNITS: Record<string, string> = {
  '%': 'percent',
  degC: 'celsius',
  '°C': 'celsius',
  degF: 'fahrenheit',
  '°F': 'fahrenheit',
  K: 'kelvin',
  bar: 'pressurebar',
  mbar: 'pressurembar',
  Pa: 'pressurepa',
  kPa: 'pressurekpa',
  psi: 'pressurepsi',
  V: 'volt',
  mV: 'mvolt',
  kV: 'kvolt',
  A: 'amp',
  mA: 'mamp',
  W: 'watt',
  kW: 'kwatt',
  MW: 'megwatt',
  Wh: 'watth',
  kWh: 'kwatth',
  VA: 'voltamp',
  kVA: 'kvoltamp',
  var: 'voltampreact',
  kvar: 'kvoltampreact',
  Hz: 'hertz',
  rpm: 'rotrpm',
  'm3/h': 'flowcmh',
  'l/s': 'flowlps',
  'l/min': 'flowlpm',
  m: 'lengthm',
  mm: 'lengthmm',
  s: 's',
  ms: 'ms',
};

export function grafanaUnit(unit: string | undefined): string | undefined {
  if (!unit) return undefined;
  return GRAFANA_UNITS[unit] ?? `suffix: ${unit}`;
}

/** Replaces `{{name}}`, `{{unit}}`, `{{instance}}` and `{{<label>}}` in a legend template. */
export function applyLegend(template: string, instance: string, channel: Channel): string {
  return template.replace(/\{\{\s*([\w.-]+)\s*\}\}/g, (_, key: string) => {
    if (key === 'instance') return instance;
    if (key === 'name' || key === 'channel') return channel.name;
    const meta = channel.labels?.[key] ?? channel[key];
    return typeof meta === 'string' || typeof meta === 'number' ? String(meta) : '';
  });
}

export function fieldSpec(instance: string, channel: Channel, legend?: string): NumberFieldSpec {
  const unit = grafanaUnit(channel.unit);
  return {
    name: channel.name,
    config: {
      ...(unit ? { unit } : {}),
      // Without a legend, the channel's name: Grafana's default (name plus every label) buries
      // it in `{device=…, instance=…, item=…, term=…}`. Labels stay for overrides and the template.
      displayNameFromDS: legend ? applyLegend(legend, instance, channel) : channel.name,
      ...(typeof channel.description === 'string' ? { description: channel.description } : {}),
    },
    labels: { instance, ...(channel.labels ?? {}) },
  };
}
