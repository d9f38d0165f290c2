/**
 * What the device manager reports of each device (health, the `devices` table, REST) and
 * what on-demand reads and writes answer: protocol-neutral, from the driver seam's health.
 */
import type { Quality } from '../../core/quality';
import type { DriverHealth } from '../drivers/driver';

export type DeviceState =
  /** Acquiring, the connection is up. */
  | 'connected'
  /** Acquiring, connecting (first attempt or after a backoff). */
  | 'connecting'
  /** Acquiring, the device is unreachable: waiting before the next connect attempt. */
  | 'backoff'
  /** The model says enabled: false. */
  | 'disabled'
  /** Another sidecar holds the device's lease and acquires it. */
  | 'not-owner'
  /** The device's config cannot be acquired (see lastError), or no driver speaks its protocol. */
  | 'config-error'
  /** Not acquired: the manager is stopped or has not started it yet. */
  | 'stopped';

export interface DeviceStatus {
  deviceId: string;
  name: string;
  protocol: string;
  enabled: boolean;
  state: DeviceState;
  /** Epoch ms of the last state change seen. */
  since?: number;
  /** The sidecar acquiring it (this one's id when owned), when known. */
  owner?: string;
  lastError?: string;
  /** Epoch ms of the last completed acquisition cycle (this sidecar only). */
  lastPollAt?: number;
  /** Points of the device; good / bad (anything not good) from their current quality. */
  points: { total: number; good: number; bad: number; byQuality: Partial<Record<Quality, number>> };
  /** Terms and links of the device the driver left out, with the reason. */
  skipped: string[];
  /** Driver details (connection, units, counters) when this sidecar acquires the device. */
  poller?: DriverHealth;
}

/** One point's value read on demand (device_call) or read back after a write (device_ctrl). */
export interface Reading {
  deviceId: string;
  termId: string;
  itemId: string;
  /** The link (term item) id, also its series id. */
  linkId: string;
  /** NaN unless the quality is good (and for string points, whose text is in `text`). */
  value: number;
  text?: string;
  quality: Quality;
  time: number;
  error?: string;
}

/** A write's read-back and what the protocol confirmed (Modbus: `functionCode`). */
export type ControlResult = Reading & Record<string, unknown>;

/** A device's state from its model entry, its driver's health and who holds its lease. */
export function deviceState(
  known: { hasConfig: boolean } | undefined,
  enabled: boolean,
  health: DriverHealth | undefined,
  owner: { owned: boolean; holder?: string; self: string },
): DeviceState {
  if (!enabled) return 'disabled';
  if (known && !known.hasConfig) return 'config-error';
  if (health) {
    const s = health.connection.state;
    if (s === 'connected' || s === 'backoff' || s === 'connecting') return s;
    if (s === 'idle') return 'connecting';
    return 'stopped';
  }
  if (known && !owner.owned && owner.holder && owner.holder !== owner.self) return 'not-owner';
  return 'stopped';
}

/** Why a device is not fully working: its config, its link, a station behind it, or the last error seen. */
export function deviceError(planError: string | undefined, hasPlan: boolean, health: DriverHealth | undefined, fallback: string | undefined): string | undefined {
  if (hasPlan && planError !== undefined) return planError;
  if (health && health.connection.state !== 'connected') return health.connection.lastError ?? fallback;
  if (health) {
    const unit = health.units.find((u) => !u.responsive);
    return unit ? `unit ${unit.address ?? unit.id} (${unit.id}): ${unit.lastError ?? 'not answering'}` : undefined;
  }
  return fallback;
}
