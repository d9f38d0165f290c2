/**
 * The Modbus simulator's config: units, and per unit the points it serves, each with the
 * same encoding fields as a polled point (table, address, dataType, byteOrder, scale, …)
 * and a behaviour that makes its value.
 */
import { z } from 'zod';
import { hostSchema } from '../../host';
import { parseOrThrow } from '../../../validation';
import { encodeValue, isBooleanType } from './codec';
import { checkEncoding, encodingShape, registerCount, type Table } from './types';

const scalar = z.union([z.number(), z.boolean(), z.string()]);
const periodMs = z.number().positive().default(60_000);

/** How a point's value moves. Numbers are engineering values (before the inverse of scale/offset). */
export const behaviourSchema = z.discriminatedUnion('kind', [
  /** A fixed value; writes are refused (exception 2). */
  z.strictObject({ kind: z.literal('static'), value: scalar }),
  /** Starts at `initial`; writes stick. */
  z.strictObject({ kind: z.literal('writable'), initial: scalar.default(0) }),
  z.strictObject({
    kind: z.literal('sine'),
    mean: z.number().default(0),
    amplitude: z.number().default(1),
    periodMs,
    /** Radians. */
    phase: z.number().default(0),
  }),
  /** Sawtooth from `from` to `to` once per period. */
  z.strictObject({ kind: z.literal('ramp'), from: z.number().default(0), to: z.number().default(100), periodMs }),
  /** start + step per `everyMs`; integer types roll over at their range like a real counter. */
  z.strictObject({
    kind: z.literal('counter'),
    start: z.number().default(0),
    step: z.number().default(1),
    everyMs: z.number().positive().default(1000),
  }),
  /** Each update moves by up to ±step, kept within [min, max]; seeded, so runs repeat. */
  z.strictObject({
    kind: z.literal('randomWalk'),
    start: z.number().default(0),
    step: z.number().min(0).default(1),
    min: z.number().default(-Infinity),
    max: z.number().default(Infinity),
    seed: z.number().int().default(1),
  }),
]);
export type Behaviour = z.output<typeof behaviourSchema>;

export const simPointSchema = z
  .strictObject({
    /** For set()/get() and logs. */
    name: z.string().min(1).max(200),
    ...encodingShape,
    behaviour: behaviourSchema,
  })
  .superRefine((p, ctx) => {
    checkEncoding(p, ctx);
    const b = p.behaviour;
    const fixed = b.kind === 'static' ? b.value : b.kind === 'writable' ? b.initial : undefined;
    if (p.dataType === 'string' && fixed === undefined) {
      ctx.addIssue({ code: 'custom', path: ['behaviour', 'kind'], message: 'a string point is static or writable' });
    }
    if (fixed !== undefined) {
      try {
        encodeValue(typeof fixed === 'boolean' && !isBooleanType(p.dataType) ? Number(fixed) : fixed, p);
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['behaviour', b.kind === 'static' ? 'value' : 'initial'], message: (err as Error).message });
      }
    }
  });
export type SimPoint = z.output<typeof simPointSchema>;

export const simUnitSchema = z
  .strictObject({
    unitId: z.number().int().min(0).max(255),
    name: z.string().optional(),
    points: z.array(simPointSchema).default([]),
  })
  .superRefine((u, ctx) => {
    // Two points on one register would fight over it; bits of one register may share it.
    const used = new Map<string, number>(); // table/address → -1 whole register, else bit mask
    u.points.forEach((p, i) => {
      const n = registerCount(p.dataType, p.length);
      for (let a = p.address; a < p.address + n; a++) {
        const key = `${p.table}/${a}`;
        const prev = used.get(key);
        const mine = p.dataType === 'bit' ? 1 << (p.bit ?? 0) : -1;
        if (prev !== undefined && (prev === -1 || mine === -1 || (prev & mine) !== 0)) {
          ctx.addIssue({ code: 'custom', path: ['points', i, 'address'], message: `${p.table} ${a} is already used by another point` });
          return;
        }
        used.set(key, prev === undefined ? mine : prev | mine);
      }
    });
  });

export const simConfigSchema = z
  .strictObject({
    host: hostSchema.default('127.0.0.1'),
    /** 0 = any free port (the simulator reports the one it got). */
    port: z.number().int().min(0).max(65535).default(5020),
    /** How often moving values are recomputed. */
    updateMs: z.number().int().min(1).max(3_600_000).default(100),
    units: z.array(simUnitSchema).min(1),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<number>();
    c.units.forEach((u, i) => {
      if (seen.has(u.unitId)) ctx.addIssue({ code: 'custom', path: ['units', i, 'unitId'], message: `duplicate unit id ${u.unitId}` });
      seen.add(u.unitId);
    });
  });
export type SimConfig = z.output<typeof simConfigSchema>;
export type SimConfigInput = z.input<typeof simConfigSchema>;

export function parseSimConfig(data: unknown): SimConfig {
  return parseOrThrow(simConfigSchema, data, 'modbus simulator config', { code: 'BAD_PARAMS' });
}

/** Runtime faults, for tests (see ModbusSimulator.setFault). */
export interface SimFaults {
  /** The port refuses connections and open ones are dropped, as a device that is off. */
  offline?: boolean;
  /** Every answer (or just one unit's) is sent this much later, plus up to jitterMs. */
  delay?: { ms: number; jitterMs?: number; unitId?: number };
  /** Requests touching [from, to] (inclusive) answer with this exception code. */
  exceptions?: Array<{ from: number; to: number; code: number; unitId?: number; table?: Table }>;
  /** Unit ids that never answer. */
  silentUnits?: number[];
}
