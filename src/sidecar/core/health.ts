/**
 * What health reports on: a dependency (the store, the device manager) registers a probe,
 * and the health handler asks each one. A leaf, so any layer may own a probe.
 */
export type ProbeStatus = 'ok' | 'degraded' | 'down';

export interface HealthProbe {
  name: string;
  check(): Promise<{ status: ProbeStatus; message?: string; details?: Record<string, unknown> }>;
}
