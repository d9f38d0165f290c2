/**
 * The device-driver seam: one driver per `device.protocol`, and the device manager knows
 * nothing else of a protocol. A driver
 *   - maps a device of the model onto its own config (`plan`: terms and links → units and
 *     points, with what it must skip and why);
 *   - runs acquisition for a device this sidecar owns (`start`): polled (Modbus) or
 *     event-driven (IEC 104: spontaneous data, interrogations), samples out through one
 *     callback, report-by-exception as point-report.ts rules;
 *   - opens a short session for a device another sidecar owns (`open`): on-demand reads and
 *     writes over a connection of its own, no acquisition;
 *   - reads on demand and writes with the protocol's confirmation, raising DeviceError
 *     (core/device-error.ts) for what the device or the link did wrong.
 */
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock';
import type { Quality } from '../../core/quality';
import type { SampleBatch } from '../../core/samples';
import type { DeviceProtocol } from '../model/schemas';
import type { ModelSnapshot } from '../model/snapshot';
import type { LatestValue } from './point-report';

export type { LatestValue } from './point-report';

/** A device of the model as a driver will run it, or why it cannot. */
export interface DevicePlan<C = unknown> {
  config?: C;
  /** Canonical JSON of `config`: a changed key means acquisition must restart. */
  key?: string;
  /** Why the device cannot be acquired at all. */
  error?: string;
  /** Terms and links of the device left out, with the reason. */
  skipped: string[];
  /** Link ids the acquisition covers. */
  points: string[];
  /** How often readings a deadband suppressed are moved into the store's latest values. */
  refreshMs?: number;
  /** How long an on-demand request may take (the device's request timeout). */
  timeoutMs?: number;
}

/** One point's value read now, or read back after a write. */
export interface PointReading {
  id: string;
  /** NaN unless good. */
  value: number;
  text?: string;
  quality: Quality;
  time: number;
  error?: string;
}

/** A write's read-back, and what the protocol confirmed (Modbus: `{functionCode}`). */
export interface WriteResult {
  reading: PointReading;
  confirmation: Record<string, string | number | boolean>;
}

/** Protocol options of a write (Modbus: `functionCode`; IEC 104: select-before-operate). */
export type WriteOptions = Record<string, unknown>;

export type LinkState = 'idle' | 'connecting' | 'connected' | 'backoff' | 'closed';

export interface LinkStatus {
  state: LinkState;
  /** Epoch ms of the last state change. */
  since: number;
  lastError?: string;
  /** Counters of the link (requests, answers, timeouts, connects, …). */
  stats?: Record<string, number>;
}

/** A station behind the connection (Modbus unit, IEC 104 common address) and whether it answers. */
export interface StationHealth {
  /** The term's id. */
  id: string;
  /** Its protocol address (Modbus unit id, IEC 104 common address). */
  address?: number;
  responsive: boolean;
  lastError?: string;
}

export interface DriverHealth {
  deviceId: string;
  connection: LinkStatus;
  units: StationHealth[];
  /** Points per current quality. */
  qualities: Partial<Record<Quality, number>>;
  /** Completed acquisition cycles (polls; interrogations for event-driven drivers). */
  cycles: number;
}

/** On-demand access to a device. */
export interface DeviceSession {
  /** Reads points now; a point the device cannot read answers with its quality, not an error. */
  read(pointIds: readonly string[]): Promise<PointReading[]>;
  /** Writes one point, waits for the protocol's confirmation and reads it back. */
  write(pointId: string, value: unknown, options?: WriteOptions): Promise<WriteResult>;
  /** Resolves once the link is up or has failed, or after `timeoutMs`. */
  ready(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** Acquisition of a device this sidecar owns: a session that also produces samples. */
export interface Acquisition extends DeviceSession {
  latest(): LatestValue[];
  latest(id: string): LatestValue | undefined;
  health(): DriverHealth;
  onState(listener: (status: LinkStatus) => void): () => void;
}

export interface DriverContext {
  logger: Logger;
  clock: Clock;
}

export interface AcquisitionContext extends DriverContext {
  /** Every batch of samples the acquisition reports; must not throw. */
  onSamples(batch: SampleBatch): void;
}

export interface DeviceDriver<C = unknown> {
  readonly protocol: DeviceProtocol;
  plan(snapshot: ModelSnapshot, deviceId: string): DevicePlan<C>;
  /** Starts acquisition; it connects and reconnects on its own until closed. */
  start(config: C, ctx: AcquisitionContext): Acquisition;
  /** A session of its own for on-demand reads and writes (a device another sidecar owns). */
  open(config: C, ctx: DriverContext): DeviceSession;
}

/** The drivers of a sidecar, by protocol. */
export type DriverSet = ReadonlyMap<DeviceProtocol, DeviceDriver>;
