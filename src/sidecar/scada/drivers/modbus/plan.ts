/**
 * The Modbus driver's view of the model: a device's terms become units (the term address is
 * the unit id), its links become points; what cannot be polled is skipped with a reason.
 */
import { describe, type ModelSnapshot } from '../../model/snapshot';
import type { DevicePlan } from '../driver';
import {
  isBitTable,
  modbusPollerConfigSchema,
  registerCount,
  type ModbusPointInput,
  type ModbusPollerConfig,
  type ModbusPollerInput,
  type ModbusUnitConfig,
} from './types';

/** A Modbus device of the model as a poller config: terms are units, links are points. */
export function planModbusDevice(snapshot: ModelSnapshot, deviceId: string): DevicePlan<ModbusPollerConfig> {
  const device = snapshot.devices.get(deviceId);
  if (!device) return { error: `device "${deviceId}" does not exist`, skipped: [], points: [] };
  const skipped: string[] = [];
  const units: ModbusUnitConfig[] = [];
  const unitOfTerm = new Map<string, number>();
  const termOfUnit = new Map<number, string>();
  for (const termId of snapshot.termsByDevice.get(deviceId) ?? []) {
    const t = snapshot.terms.get(termId)!;
    if (t.address > 255) {
      skipped.push(`term ${termId}: address ${t.address} is not a Modbus unit id (0-255)`);
      continue;
    }
    const other = termOfUnit.get(t.address);
    if (other !== undefined) {
      skipped.push(`term ${termId}: unit id ${t.address} is already term ${other}'s`);
      continue;
    }
    termOfUnit.set(t.address, termId);
    unitOfTerm.set(termId, t.address);
    units.push({ id: termId, unitId: t.address });
  }
  const { id: _id, name: _n, description: _d, protocol: _p, enabled: _e, ...connection } = device;
  const deviceConfig = { id: deviceId, ...connection };
  const points: ModbusPointInput[] = [];
  for (const { id: termId } of units) {
    for (const lid of snapshot.linksByTerm.get(termId) ?? []) {
      const l = snapshot.links.get(lid)!;
      // The poller refuses a point wider than one request; leave just that point out.
      const limit = isBitTable(l.table) ? deviceConfig.maxBits : deviceConfig.maxRegisters;
      const n = registerCount(l.dataType, l.length);
      if (n > limit) {
        skipped.push(`link ${lid}: needs ${n} registers, more than the device reads at once (${limit})`);
        continue;
      }
      points.push({
        id: lid,
        unitId: unitOfTerm.get(termId)!,
        table: l.table,
        address: l.address,
        dataType: l.dataType,
        ...(l.bit !== undefined ? { bit: l.bit } : {}),
        ...(l.length !== undefined ? { length: l.length } : {}),
        byteOrder: l.byteOrder,
        scale: l.scale,
        offset: l.offset,
        ...(l.deadband ? { deadband: l.deadband } : {}),
        ...(l.pollIntervalMs !== undefined ? { pollIntervalMs: l.pollIntervalMs } : {}),
        writeFunction: l.writeFunction,
      });
    }
  }
  const input: ModbusPollerInput = { device: deviceConfig, units, points };
  const r = modbusPollerConfigSchema.safeParse(input);
  if (!r.success) return { error: describe(r.error.issues), skipped, points: [] };
  const { pollIntervalMs, timeoutMs } = r.data.device;
  const intervals = [pollIntervalMs, ...r.data.points.map((p) => p.pollIntervalMs ?? pollIntervalMs)];
  return {
    config: r.data,
    key: JSON.stringify(r.data),
    skipped,
    points: r.data.points.map((p) => p.id),
    // Reads the deadband suppressed reach the store at about the fastest poll pace.
    refreshMs: Math.min(10_000, Math.max(50, Math.min(...intervals))),
    timeoutMs,
  };
}

