/**
 * Shared fixtures of the device manager and `scada` data source tests: a simulator with
 * static and writable points (exact values to assert), a matching model written straight
 * into the store (as the REST layer will), and waiting helpers.
 */
import pino from 'pino';
import type { DeviceInput, ItemInput, LinkInput, TermInput } from '../../../src/sidecar/scada/model/schemas';
import { linkId } from '../../../src/sidecar/scada/model/schemas';
import { startModbusSimulator, type ModbusSimulator } from '../../../src/sidecar/scada/drivers/modbus/simulator';
import { qualityName, type Quality } from '../../../src/sidecar/core/quality';
import type { ModelOp, Store } from '../../../src/sidecar/store/types';

export const silent = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export const TEMP = 21.5;
export const LEVEL = 42;
export const SETPOINT0 = 5;

/** Unit 1: temp (static float32), setpoint (writable int16), flag (writable coil), fixed (static int16, read-only). Unit 2: level. */
export function startSim(port = 0): Promise<ModbusSimulator> {
  return startModbusSimulator(
    {
      port,
      updateMs: 20,
      units: [
        {
          unitId: 1,
          points: [
            { name: 'temp', table: 'holding', address: 0, dataType: 'float32', behaviour: { kind: 'static', value: TEMP } },
            { name: 'setpoint', table: 'holding', address: 10, dataType: 'int16', behaviour: { kind: 'writable', initial: SETPOINT0 } },
            { name: 'fixed', table: 'holding', address: 20, dataType: 'int16', behaviour: { kind: 'static', value: 7 } },
            { name: 'flag', table: 'coil', address: 0, dataType: 'bool', behaviour: { kind: 'writable', initial: false } },
            {
              name: 'ramp',
              table: 'input',
              address: 0,
              dataType: 'uint16',
              behaviour: { kind: 'counter', start: 0, step: 1, everyMs: 20 },
            },
          ],
        },
        {
          unitId: 2,
          points: [{ name: 'level', table: 'holding', address: 0, dataType: 'uint16', behaviour: { kind: 'static', value: LEVEL } }],
        },
      ],
    },
    { logger: silent },
  );
}

export function deviceObj(id: string, port: number, extra: Partial<DeviceInput> = {}): DeviceInput {
  return {
    id,
    name: `Device ${id}`,
    protocol: 'modbus_tcp',
    host: '127.0.0.1',
    port,
    pollIntervalMs: 40,
    timeoutMs: 300,
    backoff: { initialMs: 50, maxMs: 200 },
    maxSilenceMs: 0,
    ...extra,
  };
}

export const ITEMS: ItemInput[] = [
  { id: 'temp', name: 'Temperature', unit: 'degC', labels: { area: 'north' } },
  { id: 'setpoint', name: 'Setpoint', unit: '%' },
  { id: 'fixed', name: 'Fixed' },
  { id: 'flag', name: 'Flag' },
  { id: 'level', name: 'Level', unit: 'm' },
  { id: 'ramp', name: 'Ramp' },
];

/** Links of a device whose terms are `<prefix>u1` (unit 1) and `<prefix>u2` (unit 2). */
export function linksFor(prefix: string): LinkInput[] {
  const t1 = `${prefix}u1`;
  const t2 = `${prefix}u2`;
  return [
    { termId: t1, itemId: 'temp', table: 'holding', address: 0, dataType: 'float32' },
    { termId: t1, itemId: 'setpoint', table: 'holding', address: 10, dataType: 'int16', writable: true },
    { termId: t1, itemId: 'fixed', table: 'holding', address: 20, dataType: 'int16' },
    { termId: t2, itemId: 'level', table: 'holding', address: 0, dataType: 'uint16' },
  ];
}

export function termsFor(prefix: string, deviceId: string): TermInput[] {
  return [
    { id: `${prefix}u1`, name: `Unit 1 of ${deviceId}`, deviceId, address: 1 },
    { id: `${prefix}u2`, name: `Unit 2 of ${deviceId}`, deviceId, address: 2 },
  ];
}

/** Writes a device with its terms, the items and its links in one step, publishing model events. */
export async function putDevice(
  store: Store,
  deviceId: string,
  port: number,
  extra: Partial<DeviceInput> = {},
  prefix = `${deviceId}_`,
): Promise<void> {
  const ops: ModelOp[] = [
    { op: 'put', kind: 'device', id: deviceId, value: deviceObj(deviceId, port, extra) },
    ...termsFor(prefix, deviceId).map((t): ModelOp => ({ op: 'put', kind: 'term', id: t.id, value: t })),
    ...ITEMS.map((i): ModelOp => ({ op: 'put', kind: 'item', id: i.id, value: i })),
    ...linksFor(prefix).map((l): ModelOp => ({ op: 'put', kind: 'link', id: linkId(l.termId, l.itemId), value: l })),
  ];
  const r = await store.writeObjects(ops, { publish: true });
  if (!r.ok) throw new Error('model write failed');
}

export async function putLink(store: Store, link: LinkInput): Promise<void> {
  await store.writeObjects([{ op: 'put', kind: 'link', id: linkId(link.termId, link.itemId), value: link }], { publish: true });
}

/** Deletes a device with its terms and links in one step (as the REST layer does). */
export async function deleteDevice(store: Store, deviceId: string, prefix = `${deviceId}_`): Promise<void> {
  const ops: ModelOp[] = [
    ...linksFor(prefix).map((l): ModelOp => ({ op: 'delete', kind: 'link', id: linkId(l.termId, l.itemId) })),
    ...termsFor(prefix, deviceId).map((t): ModelOp => ({ op: 'delete', kind: 'term', id: t.id })),
    { op: 'delete', kind: 'device', id: deviceId },
  ];
  await store.writeObjects(ops, { publish: true });
}

export async function patchDevice(store: Store, deviceId: string, patch: Partial<DeviceInput>): Promise<void> {
  const cur = (await store.getObject<DeviceInput>('device', deviceId))!;
  await store.writeObjects([{ op: 'put', kind: 'device', id: deviceId, value: { ...cur, ...patch } }], { publish: true });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` (sync or async) until truthy; fails naming `what`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000, stepMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}

/** The latest value and quality of a series in the store. */
export async function latestOf(store: Store, id: string): Promise<{ value: number; quality: Quality; time: number } | undefined> {
  const l = (await store.latest([id])).get(id);
  return l && { value: l.value, quality: qualityName(l.quality), time: l.time };
}

/** Number of samples the store holds for a series over the last minute. */
export async function countSamples(store: Store, id: string): Promise<number> {
  const now = Date.now();
  return (await store.range(id, now - 60_000, now + 60_000)).times.length;
}
