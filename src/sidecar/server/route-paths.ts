/**
 * Seed 002's `route_path`: an instance param that renames its per-plugin route prefix.
 * It belongs to the host, not to the plugin, so it is taken out of the params before the
 * plugin sees them (plugins' strict param schemas would reject it otherwise).
 */
import { AppError } from '../errors';
import { INSTANCE_ID, type InstanceConfig } from '../registry/config';

export const ROUTE_PATH_PARAM = 'route_path';

export interface RoutePaths {
  /** The instances with `route_path` removed from their params. */
  instances: InstanceConfig[];
  /** route_path → instance id. */
  routePaths: Map<string, string>;
}

export function extractRoutePaths(instances: readonly InstanceConfig[]): RoutePaths {
  const ids = new Set(instances.map((i) => i.id));
  const routePaths = new Map<string, string>();
  const out = instances.map((inst, i) => {
    if (!(ROUTE_PATH_PARAM in inst.params)) return inst;
    const { [ROUTE_PATH_PARAM]: raw, ...params } = inst.params;
    const field = `instances.${i}.params.${ROUTE_PATH_PARAM}`;
    // A leading or trailing slash is a natural way to write a path; the prefix is one segment.
    const prefix = typeof raw === 'string' ? raw.replace(/^\/+|\/+$/g, '') : raw;
    if (typeof prefix !== 'string' || !INSTANCE_ID.test(prefix)) {
      throw new AppError('BAD_PARAMS', `invalid ${field}: must be 1-64 letters, digits, "_" or "-" (one path segment)`, field);
    }
    if (ids.has(prefix) && prefix !== inst.id) {
      throw new AppError('BAD_PARAMS', `invalid ${field}: "${prefix}" is the id of another instance`, field);
    }
    const other = routePaths.get(prefix);
    if (other !== undefined) throw new AppError('BAD_PARAMS', `invalid ${field}: "${prefix}" is already the route_path of instance "${other}"`, field);
    routePaths.set(prefix, inst.id);
    return { ...inst, params };
  });
  return { instances: out, routePaths };
}
