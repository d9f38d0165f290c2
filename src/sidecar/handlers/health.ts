/**
 * The health handler, in the shape Grafana's health check expects:
 * `{status: "OK"|"ERROR", message, details}` with each instance's state, every probe's
 * (the store's), the version and the uptime.
 */
import type { HandlerContext, ProbeStatus } from './context';

export interface HealthResult {
  status: 'OK' | 'ERROR';
  message: string;
  details: {
    version: string;
    uptimeSec: number;
    instances: ReturnType<HandlerContext['registry']['list']>;
    probes: Record<string, { status: ProbeStatus; message?: string; details?: Record<string, unknown> }>;
  };
}

/** A probe that does not answer within this is reported down rather than hanging the check. */
const PROBE_TIMEOUT_MS = 2000;

export async function handleHealth(ctx: HandlerContext): Promise<HealthResult> {
  const instances = ctx.registry.list();
  const probes: HealthResult['details']['probes'] = {};
  await Promise.all(
    ctx.probes.map(async (probe) => {
      probes[probe.name] = await withTimeout(probe.check(), PROBE_TIMEOUT_MS).catch((err: unknown) => ({
        status: 'down' as const,
        message: err instanceof Error ? err.message : String(err),
      }));
    }),
  );

  const problems: string[] = [];
  for (const inst of instances) {
    if (inst.state !== 'ready') problems.push(`${inst.id} (${inst.plugin}) is ${inst.state}${inst.error ? `: ${inst.error.message}` : ''}`);
  }
  for (const [name, p] of Object.entries(probes)) {
    if (p.status === 'down') problems.push(`${name} is down${p.message ? `: ${p.message}` : ''}`);
  }
  const degraded = Object.entries(probes)
    .filter(([, p]) => p.status === 'degraded')
    .map(([name, p]) => `${name} degraded${p.message ? `: ${p.message}` : ''}`);
  const ready = instances.filter((i) => i.state === 'ready').length;
  const summary = `SCADA Live ${ctx.version}: ${ready} of ${instances.length} data sources ready`;
  return {
    status: problems.length === 0 ? 'OK' : 'ERROR',
    message: [summary, ...problems, ...degraded].join('; '),
    details: { version: ctx.version, uptimeSec: Math.round((ctx.now() - ctx.startedAt) / 1000), instances, probes },
  };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    timer.unref();
    p.then(resolve, reject).finally(() => clearTimeout(timer));
  });
}
