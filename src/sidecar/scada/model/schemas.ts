/**
 * The SCADA model of seed 004 (PyDataColl): a device is a connection, a term a station on
 * it (Modbus unit id, IEC 104 common address), an item a point definition, and a link
 * (term item) places an item on a term with its protocol address, encoding, scaling and
 * deadband. Each link is one polled series and one channel of the `scada` data source.
 */
import { z } from 'zod';
import { backoffSchema, checkEncoding, deadbandSchema, encodingShape, modbusDeviceSchema } from '../drivers/modbus/types';

export const MODEL_ID = /^[A-Za-z0-9_-]{1,64}$/;
const id = z.string().regex(MODEL_ID, 'must be 1-64 letters, digits, "_" or "-"');
const name = z.string().min(1).max(200);
const description = z.string().max(2000).optional();

export const DEVICE_PROTOCOLS = ['modbus_tcp', 'iec104'] as const;
export type DeviceProtocol = (typeof DEVICE_PROTOCOLS)[number];

/**
 * Device protocols `deviceSchema` accepts today; the others are listed by
 * `/api/v1/device_protocols` as not yet supported. Extend with the IEC 104 device schema.
 */
export const SUPPORTED_DEVICE_PROTOCOLS: readonly DeviceProtocol[] = ['modbus_tcp'];

export const DEVICE_PROTOCOL_TITLES: Record<DeviceProtocol, string> = {
  modbus_tcp: 'Modbus TCP',
  iec104: 'IEC 60870-5-104',
};

/** Term protocols by device protocol: what `address` of a term means. */
export const TERM_PROTOCOLS = {
  modbus_tcp: { name: 'modbus', address: 'unit id (0-255)', minAddress: 0, maxAddress: 255 },
  iec104: { name: 'iec104', address: 'common address of ASDU (1-65534)', minAddress: 1, maxAddress: 65534 },
} as const;

const { id: _deviceId, ...modbusConnection } = modbusDeviceSchema.shape;

export const modbusDeviceModelSchema = z
  .strictObject({
    id,
    name,
    description,
    protocol: z.literal('modbus_tcp'),
    /** A disabled device keeps its model but is not polled. */
    enabled: z.boolean().default(true),
    ...modbusConnection,
    backoff: backoffSchema.default({ initialMs: 500, maxMs: 30_000 }),
  })
  .superRefine((d, ctx) => {
    if (d.backoff.maxMs < d.backoff.initialMs) ctx.addIssue({ code: 'custom', path: ['backoff', 'maxMs'], message: 'must be ≥ initialMs' });
  });

export const deviceSchema = modbusDeviceModelSchema;
export type Device = z.output<typeof deviceSchema>;
export type DeviceInput = z.input<typeof deviceSchema>;

export const termSchema = z.strictObject({
  id,
  name,
  description,
  deviceId: id,
  /** Modbus unit id or IEC 104 common address; checked against the device's protocol. */
  address: z.number().int().min(0).max(65535),
});
export type Term = z.output<typeof termSchema>;
export type TermInput = z.input<typeof termSchema>;

export const itemSchema = z.strictObject({
  id,
  name,
  description,
  /** Engineering unit (degC, bar, %, kW…): shown in Grafana through the field unit. */
  unit: z.string().max(32).optional(),
  labels: z.record(z.string(), z.string()).optional(),
});
export type Item = z.output<typeof itemSchema>;
export type ItemInput = z.input<typeof itemSchema>;

export const modbusLinkSchema = z
  .strictObject({
    termId: id,
    itemId: id,
    ...encodingShape,
    deadband: deadbandSchema.optional(),
    pollIntervalMs: z.number().int().min(1).max(86_400_000).optional(),
    writeFunction: z.enum(['single', 'multiple']).default('single'),
    /** Writes (device_ctrl) are refused unless the link is marked writable. */
    writable: z.boolean().default(false),
  })
  .superRefine((l, ctx) => {
    checkEncoding(l, ctx);
    // Modbus has no write function for these tables: say so when the link is defined, not at the first write.
    if (l.writable && (l.table === 'discrete' || l.table === 'input'))
      ctx.addIssue({
        code: 'custom',
        path: ['writable'],
        message: `${l.table === 'input' ? 'input registers' : 'discrete inputs'} are read-only`,
      });
  });

export const linkSchema = modbusLinkSchema;
export type Link = z.output<typeof linkSchema>;
export type LinkInput = z.input<typeof linkSchema>;

/** A link's id, which is also its series id in the store. */
export function linkId(termId: string, itemId: string): string {
  return `${termId}:${itemId}`;
}

/** The device protocol a link's encoding is written for (only Modbus encodings exist yet). */
export function linkProtocol(_link: Link): DeviceProtocol {
  return 'modbus_tcp';
}

/**
 * The `model:` section of the config file: objects declared there are upserted at start
 * (`ModelService.loadFromConfig`), so a restart with the same file changes nothing. Ids
 * must be unique per kind within the section; references may point at objects that already
 * exist in the store (checked when loading, not here).
 */
export const modelConfigSchema = z
  .strictObject({
    devices: z.array(deviceSchema).default([]),
    terms: z.array(termSchema).default([]),
    items: z.array(itemSchema).default([]),
    links: z.array(linkSchema).default([]),
  })
  .superRefine((m, ctx) => {
    const unique = (
      list: readonly unknown[],
      section: string,
      keyOf: (o: never) => string,
      field: string,
      what: (k: string) => string,
    ): void => {
      const seen = new Map<string, number>();
      list.forEach((o, i) => {
        const k = keyOf(o as never);
        const first = seen.get(k);
        if (first !== undefined)
          ctx.addIssue({ code: 'custom', path: [section, i, field], message: `${what(k)} is already declared at ${section}.${first}` });
        else seen.set(k, i);
      });
    };
    unique(
      m.devices,
      'devices',
      (d: Device) => d.id,
      'id',
      (k) => `device "${k}"`,
    );
    unique(
      m.terms,
      'terms',
      (t: Term) => t.id,
      'id',
      (k) => `term "${k}"`,
    );
    unique(
      m.items,
      'items',
      (t: Item) => t.id,
      'id',
      (k) => `item "${k}"`,
    );
    unique(
      m.links,
      'links',
      (l: Link) => linkId(l.termId, l.itemId),
      'itemId',
      (k) => `link "${k}"`,
    );
  });
export type ModelConfig = z.output<typeof modelConfigSchema>;
export type ModelConfigInput = z.input<typeof modelConfigSchema>;
