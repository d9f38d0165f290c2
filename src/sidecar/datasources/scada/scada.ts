/**
 * The built-in `scada` data source: the SCADA model's term items as channels, history from
 * the store, live samples from the bus, and the model with its last values as objects.
 *
 * Channels
 *   `<deviceId>/<termId>/<itemId>`  timeseries, one per link (term item); model ids cannot
 *                                   contain "/", so the name splits back unambiguously.
 *   `devices`                       table: device, term, item, value, quality, time, unit, status, text
 *   `model`                         tree: scada → device → term → item (with its last value)
 *
 * Quality → value: a SeriesSet carries one number per sample and no quality, so samples
 * whose quality gives no usable value — bad, comm_lost, config_error — are NaN (Grafana
 * draws a gap: the line stops where the device stopped answering, rather than going flat
 * at a value nobody read). good, stale and uncertain samples keep their value (stale is
 * the last good value, still the best known one). The quality itself is in the `devices`
 * table, next to the last known value — which stays visible there while the device is down.
 * The poller already stores NaN for bad/comm_lost samples; the mask here also covers
 * samples another producer stored with a number and a bad quality. Rollups (resampled
 * reads from the store) only see what was stored: NaN values are skipped by every reducer.
 *
 * Quality is not a channel label: Grafana identifies a series by its labels, so a label
 * that changes with the device's state would split one line into several. `quality` is in
 * the channel's metadata (as last seen) and in the `devices` table.
 *
 * The class needs the store and the device manager, which a plugin's (app, project, params)
 * constructor cannot pass: `createScadaDataSourceClass({ store, manager })` returns a class
 * bound to them for the composition root to register under the name `scada`.
 */
import { z } from 'zod';
import { AppError } from '../../errors';
import { DataSource, type DataSourceClass, type Params } from '../../registry/datasource';
import type {
  AppContext,
  Channel,
  ObjectSet,
  Reducer,
  Resampled,
  SampleListener,
  SeriesSet,
  TableObject,
  TreeNode,
  TreeObject,
  Unsubscribe,
} from '../../registry/types';
import type { DeviceManager, DeviceStatus } from '../../scada/manager';
import type { ModelSnapshot } from '../../scada/manager';
import { QUALITY_CODE, qualityName, type Quality } from '../../core/quality';
import type { SampleBatch } from '../../core/samples';
import type { LatestSample, Store } from '../../store/types';
import { parseOrThrow } from '../../validation';

export const DEVICES_CHANNEL = 'devices';
export const MODEL_CHANNEL = 'model';

/** What the data source reads: the store (samples, latest values, bus) and the manager (model, status). */
export interface ScadaDeps {
  store: Store;
  manager: DeviceManager;
}

export const scadaParamsSchema = z.strictObject({});
export type ScadaParams = z.output<typeof scadaParamsSchema>;

/** The channel name of a link. */
export function scadaChannelName(deviceId: string, termId: string, itemId: string): string {
  return `${deviceId}/${termId}/${itemId}`;
}

/** Qualities whose samples keep their value; the others become NaN (see the file comment). */
const KEEPS_VALUE = new Uint8Array(256);
KEEPS_VALUE[QUALITY_CODE.good] = 1;
KEEPS_VALUE[QUALITY_CODE.stale] = 1;
KEEPS_VALUE[QUALITY_CODE.uncertain] = 1;

export function keepsValue(quality: number): boolean {
  return KEEPS_VALUE[quality] === 1;
}

interface ChannelIndex {
  version: number;
  channels: Channel[];
  /** Timeseries channel name → series (link) id. */
  seriesOf: Map<string, string>;
  /** Series id → channel name. */
  nameOf: Map<string, string>;
}

export class ScadaDataSource extends DataSource<ScadaParams> {
  static override paramsSchema = scadaParamsSchema;

  private index?: ChannelIndex;
  private readonly subscriptions = new Set<Unsubscribe>();
  /** Last value-carrying sample per series seen on the bus: the `devices` table shows it while a device is down. */
  private readonly lastGood = new Map<string, { value: number; time: number }>();
  /** Last quality per series seen on the bus (channel metadata). */
  private readonly lastQuality = new Map<string, number>();
  private stopWatching?: Unsubscribe;

  constructor(
    app: AppContext,
    project: string,
    params: Params,
    readonly deps: ScadaDeps,
  ) {
    super(app, project, parseOrThrow(scadaParamsSchema, params ?? {}, 'scada params', { code: 'BAD_PARAMS', fieldPrefix: 'params' }));
    if (!deps?.store || !deps?.manager) throw new AppError('BAD_PARAMS', 'the scada data source needs the store and the device manager');
  }

  override initialize(): void {
    this.stopWatching = this.deps.store.subscribeSamples((batch) => this.remember(batch));
  }

  override finalize(): void {
    this.stopWatching?.();
    this.stopWatching = undefined;
    for (const stop of [...this.subscriptions]) stop();
  }

  override getChannels(): Channel[] {
    const idx = this.channelIndex();
    // Quality as last seen goes into a copy, so the cached list stays as built.
    return idx.channels.map((ch) => {
      const q = ch.seriesId !== undefined ? this.lastQuality.get(ch.seriesId as string) : undefined;
      return q === undefined ? ch : { ...ch, quality: qualityName(q) };
    });
  }

  override async getTimeseries(
    channels: string[],
    length: number,
    to: number,
    resampling?: number,
    reducer: Reducer = 'last',
  ): Promise<SeriesSet | Resampled> {
    const names = this.timeseriesNames(channels);
    const idx = this.channelIndex();
    const ids = names.map((n) => idx.seriesOf.get(n)!);
    // null as well as undefined means raw; resampling <= 0 (infer the interval) is the registry's job on raw samples.
    if (resampling !== undefined && resampling !== null && resampling > 0) {
      const r = await this.deps.store.resample(ids, length, to, resampling, reducer);
      return { times: r.times, names, columns: r.columns, interval: r.interval, ...(r.notices ? { notices: r.notices } : {}) };
    }
    const raw = await this.deps.store.rangeMany(ids, to - length, to);
    const set: SeriesSet = {};
    names.forEach((name, i) => {
      const cols = raw.get(ids[i]);
      if (!cols) {
        set[name] = { times: new Float64Array(0), values: new Float64Array(0) };
        return;
      }
      // rangeMany returns fresh arrays: mask in place.
      const { values, qualities } = cols;
      for (let k = 0; k < values.length; k++) if (KEEPS_VALUE[qualities[k]] !== 1) values[k] = NaN;
      set[name] = { times: cols.times, values };
    });
    return set;
  }

  /** Pushes every sample of `channels` the bus carries (this sidecar's pollers' and, on Redis, the others'). */
  override subscribe(channels: string[], listener: SampleListener): Unsubscribe {
    const names = this.timeseriesNames(channels);
    if (typeof listener !== 'function') throw new AppError('BAD_REQUEST', 'listener must be a function', 'listener');
    const idx = this.channelIndex();
    const wanted = new Map(names.map((n) => [idx.seriesOf.get(n)!, n]));
    const off = this.deps.store.subscribeSamples((batch) => {
      let out: SeriesSet | undefined;
      for (const [id, name] of wanted) {
        const cols = batch.get(id);
        if (!cols || cols.times.length === 0) continue;
        // The batch is shared with other listeners: copy, then mask.
        const values = Float64Array.from(cols.values);
        for (let k = 0; k < values.length; k++) if (KEEPS_VALUE[cols.qualities[k]] !== 1) values[k] = NaN;
        (out ??= {})[name] = { times: Float64Array.from(cols.times), values };
      }
      if (!out) return;
      try {
        listener(out);
      } catch (err) {
        this.app.logger.warn({ err, plugin: this.pluginName }, 'scada subscription listener threw');
      }
    });
    let done = false;
    const unsubscribe: Unsubscribe = () => {
      if (done) return;
      done = true;
      off();
      this.subscriptions.delete(unsubscribe);
    };
    this.subscriptions.add(unsubscribe);
    return unsubscribe;
  }

  /**
   * The object channels show the current state (latest values, device status); `length`
   * and `to` do not select an older state: the store keeps only the latest value per series.
   */
  override async getObject(channels: string[], _length: number, _to: number): Promise<ObjectSet> {
    if (!Array.isArray(channels)) throw new AppError('BAD_REQUEST', 'channels must be an array of channel names', 'channels');
    for (const name of channels) {
      if (name !== DEVICES_CHANNEL && name !== MODEL_CHANNEL) {
        const hint = this.channelIndex().seriesOf.has(name) ? ` ("${name}" is a timeseries channel; use getTimeseries)` : '';
        throw new AppError('UNKNOWN_CHANNEL', `unknown object channel "${name}" in scada${hint}`, 'channels');
      }
    }
    const state = await this.currentState();
    const out: ObjectSet = {};
    for (const name of channels) out[name] = name === DEVICES_CHANNEL ? this.devicesTable(state) : this.modelTree(state);
    return out;
  }

  // -------------------------------------------------------------------------------------

  private channelIndex(): ChannelIndex {
    const snap = this.deps.manager.model();
    if (this.index?.version === snap.version) return this.index;
    const channels: Channel[] = [];
    const seriesOf = new Map<string, string>();
    const nameOf = new Map<string, string>();
    for (const [deviceId, device] of snap.devices) {
      for (const termId of snap.termsByDevice.get(deviceId) ?? []) {
        const term = snap.terms.get(termId)!;
        for (const lid of snap.linksByTerm.get(termId) ?? []) {
          const link = snap.links.get(lid)!;
          const item = snap.items.get(link.itemId)!;
          const name = scadaChannelName(deviceId, termId, item.id);
          seriesOf.set(name, lid);
          nameOf.set(lid, name);
          channels.push({
            name,
            type: 'timeseries',
            ...(item.unit ? { unit: item.unit } : {}),
            description: item.description ?? `${item.name} on ${term.name} (${device.name})`,
            labels: { ...(item.labels ?? {}), device: deviceId, term: termId, item: item.id },
            seriesId: lid,
            dataType: link.dataType,
            writable: link.writable,
            table: link.table,
            address: link.address,
            itemName: item.name,
            termName: term.name,
            deviceName: device.name,
          });
        }
      }
    }
    channels.push({ name: DEVICES_CHANNEL, type: 'table', description: 'Every term item with its last value, quality and device status' });
    channels.push({ name: MODEL_CHANNEL, type: 'tree', description: 'The SCADA model: device → term → item, with last values' });
    // Series whose link is gone need no remembered values any more.
    for (const id of this.lastGood.keys()) if (!snap.links.has(id)) this.lastGood.delete(id);
    for (const id of this.lastQuality.keys()) if (!snap.links.has(id)) this.lastQuality.delete(id);
    this.index = { version: snap.version, channels, seriesOf, nameOf };
    return this.index;
  }

  private timeseriesNames(channels: unknown): string[] {
    if (!Array.isArray(channels) || channels.some((c) => typeof c !== 'string'))
      throw new AppError('BAD_REQUEST', 'channels must be an array of channel names', 'channels');
    const idx = this.channelIndex();
    const names = [...new Set(channels as string[])];
    for (const name of names) {
      if (idx.seriesOf.has(name)) continue;
      const hint = name === DEVICES_CHANNEL || name === MODEL_CHANNEL ? ` ("${name}" is an object channel; use getObject)` : '';
      throw new AppError('UNKNOWN_CHANNEL', `unknown timeseries channel "${name}" in scada${hint}`, 'channels');
    }
    return names;
  }

  private remember(batch: SampleBatch): void {
    for (const [id, cols] of batch) {
      const n = cols.times.length;
      if (n === 0) continue;
      this.lastQuality.set(id, cols.qualities[n - 1]);
      for (let k = n - 1; k >= 0; k--) {
        const v = cols.values[k];
        if (KEEPS_VALUE[cols.qualities[k]] === 1 && Number.isFinite(v)) {
          const prev = this.lastGood.get(id);
          if (!prev || prev.time <= cols.times[k]) this.lastGood.set(id, { value: v, time: cols.times[k] });
          break;
        }
      }
    }
  }

  /** One read of everything both object channels show. */
  private async currentState(): Promise<PointsState> {
    const snap = this.deps.manager.model();
    const latest = await this.deps.store.latest([...snap.links.keys()]);
    const status = new Map(this.deps.manager.status().map((s) => [s.deviceId, s]));
    const points = new Map<string, PointState>();
    for (const id of snap.links.keys()) {
      const l = latest.get(id);
      const local = this.deps.manager.pointLatest(id);
      points.set(id, pointState(l, local, this.lastGood.get(id)));
    }
    return { snap, status, points };
  }

  private devicesTable({ snap, status, points }: PointsState): TableObject {
    const rows: TableObject['rows'] = [];
    let newest: number | undefined;
    for (const [deviceId] of snap.devices) {
      const st = status.get(deviceId)?.state ?? 'stopped';
      for (const termId of snap.termsByDevice.get(deviceId) ?? []) {
        for (const lid of snap.linksByTerm.get(termId) ?? []) {
          const link = snap.links.get(lid)!;
          const item = snap.items.get(link.itemId)!;
          const p = points.get(lid)!;
          if (p.time !== null && (newest === undefined || p.time > newest)) newest = p.time;
          rows.push([deviceId, termId, item.id, p.value, p.quality, p.time, item.unit ?? null, st, p.text]);
        }
      }
    }
    return {
      type: 'table',
      columns: [
        { name: 'device', type: 'string' },
        { name: 'term', type: 'string' },
        { name: 'item', type: 'string' },
        { name: 'value', type: 'number' },
        { name: 'quality', type: 'string' },
        { name: 'time', type: 'time' },
        { name: 'unit', type: 'string' },
        { name: 'status', type: 'string' },
        { name: 'text', type: 'string' },
      ],
      rows,
      ...(newest !== undefined ? { time: newest } : {}),
    };
  }

  private modelTree({ snap, status, points }: PointsState): TreeObject {
    const devices: TreeNode[] = [];
    for (const [deviceId] of snap.devices) {
      const terms: TreeNode[] = [];
      for (const termId of snap.termsByDevice.get(deviceId) ?? []) {
        const items: TreeNode[] = [];
        for (const lid of snap.linksByTerm.get(termId) ?? []) {
          const p = points.get(lid)!;
          items.push({ name: snap.links.get(lid)!.itemId, value: p.text ?? p.value });
        }
        terms.push({ name: termId, value: snap.terms.get(termId)!.address, children: items });
      }
      devices.push({ name: deviceId, value: status.get(deviceId)?.state ?? 'stopped', children: terms });
    }
    return { type: 'tree', root: { name: 'scada', children: devices } };
  }
}

interface PointState {
  /** The latest value if it is usable, else the last good value known (see quality). */
  value: number | null;
  text: string | null;
  quality: string | null;
  time: number | null;
}

interface PointsState {
  snap: ModelSnapshot;
  status: Map<string, DeviceStatus>;
  points: Map<string, PointState>;
}

/**
 * What the table shows for one point: the store's latest value and quality (shared by every
 * sidecar); when that carries no value (bad, comm_lost), the last good value known here —
 * from the local poller, else from the bus — so an operator still sees what it last was.
 */
function pointState(
  latest: LatestSample | undefined,
  local: { value: number; text?: string; quality: string; time: number } | undefined,
  lastGood: { value: number } | undefined,
): PointState {
  const usable = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v);
  // Store latest and the local poller may disagree for a moment: the newer one is current.
  const fromLocal = local !== undefined && (!latest || local.time > latest.time);
  let value: number | null = null;
  if (fromLocal && keepsValue(QUALITY_CODE[local.quality as Quality] ?? QUALITY_CODE.bad) && usable(local.value)) value = local.value;
  else if (!fromLocal && latest && keepsValue(latest.quality) && usable(latest.value)) value = latest.value;
  else if (usable(local?.value))
    value = local.value; // the poller keeps the last good value
  else if (usable(lastGood?.value)) value = lastGood.value;
  return {
    value,
    text: local?.text ?? null,
    quality: fromLocal ? local.quality : latest ? qualityName(latest.quality) : null,
    time: fromLocal ? local.time : latest ? latest.time : null,
  };
}

/**
 * The `scada` data source class bound to a store and a device manager; register it under the
 * name `scada` (e.g. in BUILTIN_PLUGINS, or `startSidecar({ plugins })`).
 */
export function createScadaDataSourceClass(deps: ScadaDeps): DataSourceClass {
  return class Scada extends ScadaDataSource {
    static override paramsSchema = scadaParamsSchema;

    constructor(app: AppContext, project: string, params: Params) {
      super(app, project, params, deps);
    }
  };
}
