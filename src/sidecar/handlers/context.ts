/**
 * What every handler gets: the registry, the limits and the facts health reports. Handlers
 * are plain functions of (context, input) so any transport can sit on top of them.
 */
import type { Limits } from '../config';
import type { Registry } from '../registry/registry';
import type { HealthProbe } from '../core/health';

export type { HealthProbe, ProbeStatus } from '../core/health';

export interface HandlerContext {
  registry: Registry;
  limits: Limits;
  version: string;
  /** Epoch ms the sidecar started, for uptime. */
  startedAt: number;
  probes: HealthProbe[];
  /** The clock; tests may pin it. */
  now: () => number;
}
