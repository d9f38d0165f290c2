/**
 * Configuration of a polled Modbus TCP device: the device (one TCP connection), its units
 * (Modbus unit ids, the model's "terms") and its points (the model's term-item links, one
 * series each). The model engineer maps the REST model onto these; the simulator reuses the
 * point encoding fields so a simulated register map reads like a polled one.
 */
import { z } from 'zod';
import { hostSchema } from '../../host';
import { parseOrThrow } from '../../../validation';

export const TABLES = ['coil', 'discrete', 'holding', 'input'] as const;
export type Table = (typeof TABLES)[number];

export const DATA_TYPES = ['bool', 'bit', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64', 'string'] as const;
export type DataType = (typeof DATA_TYPES)[number];

/**
 * Order of the value's bytes on the wire, A being the most significant: ABCD big-endian,
 * DCBA little-endian, BADC bytes swapped in each register, CDAB registers swapped.
 * Generalised to 2 and 8 bytes (see codec.ts).
 */
export const BYTE_ORDERS = ['ABCD', 'DCBA', 'BADC', 'CDAB'] as const;
export type ByteOrder = (typeof BYTE_ORDERS)[number];

/** Protocol limits per read request (Modbus application protocol spec, FC 1-4). */
export const MAX_READ_REGISTERS = 125;
export const MAX_READ_BITS = 2000;

/** Bit tables hold bools; the register tables hold everything else. */
export function isBitTable(table: Table): boolean {
  return table === 'coil' || table === 'discrete';
}

/** Registers (or bits, for bool) one value of this type occupies. */
export function registerCount(dataType: DataType, length?: number): number {
  switch (dataType) {
    case 'bool':
    case 'bit':
    case 'int16':
    case 'uint16':
      return 1;
    case 'int32':
    case 'uint32':
    case 'float32':
      return 2;
    case 'int64':
    case 'uint64':
    case 'float64':
      return 4;
    case 'string':
      return length ?? 1;
  }
}

/** Where and how a value is encoded: shared by polled points and simulated points. */
export const encodingShape = {
  table: z.enum(TABLES),
  address: z.number().int().min(0).max(65535),
  dataType: z.enum(DATA_TYPES),
  /** Bit number (0 = least significant) for dataType `bit`. */
  bit: z.number().int().min(0).max(15).optional(),
  /** Registers of a `string` (two ASCII characters each). */
  length: z.number().int().min(1).max(MAX_READ_REGISTERS).optional(),
  byteOrder: z.enum(BYTE_ORDERS).default('ABCD'),
  /** value = raw * scale + offset (numeric types only). */
  scale: z
    .number()
    .refine((s) => s !== 0, 'must not be 0')
    .default(1),
  offset: z.number().default(0),
};

export interface EncodingFields {
  table: Table;
  address: number;
  dataType: DataType;
  bit?: number;
  length?: number;
}

/** Cross-field rules of an encoding; a zod superRefine so the error names the field. */
export function checkEncoding(p: EncodingFields, ctx: z.RefinementCtx): void {
  const issue = (path: string, message: string): void => ctx.addIssue({ code: 'custom', path: [path], message });
  if (isBitTable(p.table) !== (p.dataType === 'bool')) {
    issue(
      'dataType',
      isBitTable(p.table) ? `a ${p.table} holds a bool, not ${p.dataType}` : `bool lives in coil or discrete tables, not ${p.table}`,
    );
  }
  if (p.dataType === 'bit' && p.bit === undefined) issue('bit', 'required for dataType bit (0-15)');
  if (p.dataType !== 'bit' && p.bit !== undefined) issue('bit', 'only for dataType bit');
  if (p.dataType === 'string' && p.length === undefined) issue('length', 'required for dataType string (registers)');
  if (p.dataType !== 'string' && p.length !== undefined) issue('length', 'only for dataType string');
  if (p.address + registerCount(p.dataType, p.length) > 65536) issue('address', 'value runs past address 65535');
}

/**
 * Report-by-exception threshold: a new good value is emitted only when it moved by more
 * than this since the last emitted one. `percent` is of `span` (the engineering range, as
 * OPC DA's percent deadband) when given, otherwise of the last emitted value's magnitude.
 */
export const deadbandSchema = z.strictObject({
  type: z.enum(['absolute', 'percent']),
  value: z.number().min(0),
  span: z.number().positive().optional(),
});
export type Deadband = z.output<typeof deadbandSchema>;

export const SERIES_ID = /^[A-Za-z0-9_.:/-]{1,200}$/;

export const modbusPointSchema = z
  .strictObject({
    /** The series id samples are keyed by (the model's term-item link key). */
    id: z.string().regex(SERIES_ID, 'must be 1-200 letters, digits or _ . : / -'),
    /** Modbus unit id; must be one of the device's units. */
    unitId: z.number().int().min(0).max(255),
    ...encodingShape,
    deadband: deadbandSchema.optional(),
    /** Overrides the device's poll interval; points are polled in groups per interval. */
    pollIntervalMs: z.number().int().min(1).max(86_400_000).optional(),
    /**
     * Writes use FC 5/6 for one coil/register (`single`, the default) or FC 15/16
     * (`multiple`, for devices that only implement those). Multi-register values always use 16.
     */
    writeFunction: z.enum(['single', 'multiple']).default('single'),
  })
  .superRefine(checkEncoding);
export type ModbusPointConfig = z.output<typeof modbusPointSchema>;
export type ModbusPointInput = z.input<typeof modbusPointSchema>;

export const modbusUnitSchema = z.strictObject({
  /** The model's term id. */
  id: z.string().min(1).max(200),
  unitId: z.number().int().min(0).max(255),
});
export type ModbusUnitConfig = z.output<typeof modbusUnitSchema>;

const ms = (min: number, max: number) => z.number().int().min(min).max(max);

export const backoffSchema = z.strictObject({
  /** First reconnect delay; doubles per failed attempt up to maxMs, with jitter below it. */
  initialMs: ms(1, 3_600_000).default(500),
  maxMs: ms(1, 3_600_000).default(30_000),
});

export const modbusDeviceSchema = z
  .strictObject({
    id: z.string().min(1).max(200),
    host: hostSchema,
    port: z.number().int().min(1).max(65535).default(502),
    /** Per request (and per connect attempt): a request unanswered this long fails. */
    timeoutMs: ms(1, 600_000).default(1000),
    pollIntervalMs: ms(1, 86_400_000).default(1000),
    /**
     * Requests sent before the first answer arrives. Modbus TCP matches answers by
     * transaction id, but many devices handle one at a time: 1 unless the device is known
     * to queue. At most 64, well inside the client's 256 transaction ids.
     */
    maxInFlight: z.number().int().min(1).max(64).default(1),
    /**
     * Largest run of unused registers (or bits) read through to merge two points into one
     * request. 0 (default) never reads what nobody asked for: devices with holes in their
     * maps answer such a read with "illegal data address" for the whole request.
     */
    maxGap: z.number().int().min(0).max(MAX_READ_BITS).default(0),
    /** Some devices accept less than the protocol maximum per request. */
    maxRegisters: z.number().int().min(1).max(MAX_READ_REGISTERS).default(MAX_READ_REGISTERS),
    maxBits: z.number().int().min(1).max(MAX_READ_BITS).default(MAX_READ_BITS),
    backoff: backoffSchema.default({ initialMs: 500, maxMs: 30_000 }),
    /** Heartbeat: a point unchanged this long is emitted anyway. 0 = emit every poll. */
    maxSilenceMs: ms(0, 86_400_000).default(60_000),
    /**
     * A good value not refreshed for this long turns `stale` (value kept). Default per
     * interval group: 3 × its interval + timeoutMs.
     */
    staleAfterMs: ms(1, 86_400_000).optional(),
    /** Consecutive timeouts with no answer at all in between after which the connection is reset. */
    resetAfterTimeouts: z.number().int().min(1).max(1000).default(3),
  })
  .superRefine((d, ctx) => {
    if (d.backoff.maxMs < d.backoff.initialMs) ctx.addIssue({ code: 'custom', path: ['backoff', 'maxMs'], message: 'must be ≥ initialMs' });
  });
export type ModbusDeviceConfig = z.output<typeof modbusDeviceSchema>;
export type ModbusDeviceInput = z.input<typeof modbusDeviceSchema>;

export const modbusPollerConfigSchema = z
  .strictObject({
    device: modbusDeviceSchema,
    units: z.array(modbusUnitSchema),
    points: z.array(modbusPointSchema),
  })
  .superRefine((c, ctx) => {
    const unitIds = new Set<number>();
    c.units.forEach((u, i) => {
      if (unitIds.has(u.unitId)) ctx.addIssue({ code: 'custom', path: ['units', i, 'unitId'], message: `duplicate unit id ${u.unitId}` });
      unitIds.add(u.unitId);
    });
    const pointIds = new Set<string>();
    c.points.forEach((p, i) => {
      if (pointIds.has(p.id)) ctx.addIssue({ code: 'custom', path: ['points', i, 'id'], message: `duplicate point id ${p.id}` });
      pointIds.add(p.id);
      if (!unitIds.has(p.unitId))
        ctx.addIssue({ code: 'custom', path: ['points', i, 'unitId'], message: `no unit with unit id ${p.unitId}` });
    });
  });
export type ModbusPollerConfig = z.output<typeof modbusPollerConfigSchema>;
export type ModbusPollerInput = z.input<typeof modbusPollerConfigSchema>;

export function parsePollerConfig(data: unknown): ModbusPollerConfig {
  return parseOrThrow(modbusPollerConfigSchema, data, 'modbus device config', { code: 'BAD_PARAMS' });
}

export function parsePoint(data: unknown): ModbusPointConfig {
  return parseOrThrow(modbusPointSchema, data, 'modbus point');
}
