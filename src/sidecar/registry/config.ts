/**
 * The registry part of the YAML config: where user plugins live, lifecycle timeouts, and
 * the data source instances to run.
 */
import * as path from 'node:path';
import { z } from 'zod';
import { AppError } from '../errors';
import { parseOrThrow } from '../validation';

export const INSTANCE_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Strict: a typo such as `parms:` is reported instead of silently running without params. */
export const instanceConfigSchema = z.strictObject({
  id: z.string().regex(INSTANCE_ID, 'must be 1-64 letters, digits, "_" or "-"'),
  plugin: z.string().min(1, 'must name a plugin'),
  project: z.string().min(1).default('default'),
  // `params:` with nothing after it is YAML null; read it as "no params".
  params: z
    .record(z.string(), z.unknown())
    .nullish()
    .transform((p) => p ?? {}),
});

const timeoutMs = z.number().int().positive().max(600_000);

/** Not strict: this is one part of a larger config file whose other keys belong elsewhere. */
export const registryConfigSchema = z.object({
  /** Relative to the config file's directory. Absent = `plugins`, and may then be missing. */
  pluginsDir: z.string().min(1).optional(),
  initTimeoutMs: timeoutMs.default(10_000),
  finalizeTimeoutMs: timeoutMs.default(5_000),
  instances: z.array(instanceConfigSchema),
});

export type InstanceConfig = z.output<typeof instanceConfigSchema>;
/** What `Registry.start` accepts: project and params may be left out. */
export type InstanceConfigInput = z.input<typeof instanceConfigSchema>;

export interface RegistryConfig {
  /** Absolute directory of user plugins. */
  pluginsDir: string;
  /**
   * True when `pluginsDir` was written in the config: a missing directory is then an error
   * (the user asked for it), while the default `plugins` directory may simply not exist.
   */
  pluginsDirExplicit: boolean;
  initTimeoutMs: number;
  finalizeTimeoutMs: number;
  instances: InstanceConfig[];
}

export const DEFAULT_PLUGINS_DIR = 'plugins';

/** Validates the registry part of the config; `baseDir` is the config file's directory. */
export function parseRegistryConfig(data: unknown, baseDir: string): RegistryConfig {
  const parsed = parseOrThrow(registryConfigSchema, data, 'registry config', { code: 'BAD_PARAMS' });
  assertUniqueIds(parsed.instances);
  return {
    pluginsDir: path.resolve(baseDir, parsed.pluginsDir ?? DEFAULT_PLUGINS_DIR),
    pluginsDirExplicit: parsed.pluginsDir !== undefined,
    initTimeoutMs: parsed.initTimeoutMs,
    finalizeTimeoutMs: parsed.finalizeTimeoutMs,
    instances: parsed.instances,
  };
}

/** Instance ids address instances in queries, so two with one id would be ambiguous. */
export function assertUniqueIds(instances: ReadonlyArray<{ id: string }>): void {
  const seen = new Map<string, number>();
  instances.forEach((inst, i) => {
    const first = seen.get(inst.id);
    if (first !== undefined) {
      throw new AppError('DUPLICATE_INSTANCE', `duplicate instance id "${inst.id}" (instances ${first} and ${i})`, `instances.${i}.id`);
    }
    seen.set(inst.id, i);
  });
}
