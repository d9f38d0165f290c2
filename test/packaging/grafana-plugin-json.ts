/**
 * Grafana's rules for a plugin's plugin.json, restated as a zod schema so the packaging
 * test can check ours without network access. Source: the JSON schema Grafana publishes at
 * docs/sources/developers/plugins/plugin.schema.json in grafana/grafana (read 2026-11-22).
 * We may not vendor that file, so its rules are written out here; every object is strict
 * because the original sets `additionalProperties: false` on each of them, which is what
 * catches a misspelt key. Keep in step when Grafana's schema changes.
 */
import { z } from 'zod';

const PLUGIN_ID = /^[0-9a-z]+-([0-9a-z]+-)?(app|panel|datasource|secretsmanager|transformer)$/;
const DEPENDENCY_ID = /^[0-9a-z]+-([0-9a-z]+-)?(app|panel|datasource|secretsmanager)$/;
const UPDATED = /^(\d{4}-\d{2}-\d{2}|%TODAY%)$/;
// Grafana's pattern is unanchored on its left alternative; this is the same language.
const VERSION = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)|(%VERSION%)$/;
const GRAFANA_DEPENDENCY = /^(<=|>=|<|>|=|~|\^)?([0-9]+)(\.[0-9x*]+)(\.[0-9x*]+)?(\s(<=|>=|<|=>)?([0-9]+)(\.[0-9x]+)(\.[0-9x]+))?$/;
const GRAFANA_VERSION = /^([0-9]+)(\.[0-9x]+)?(\.[0-9x])?$/;

const uri = z.string().url();

const info = z.strictObject({
  author: z.strictObject({ name: z.string().optional(), email: z.string().email().optional(), url: uri.optional() }).optional(),
  build: z
    .strictObject({
      time: z.number().optional(),
      repo: z.string().optional(),
      branch: z.string().optional(),
      hash: z.string().optional(),
      number: z.number().optional(),
      pr: z.number().optional(),
    })
    .optional(),
  description: z.string().optional(),
  keywords: z.array(z.string()).min(1),
  links: z.array(z.strictObject({ name: z.string().optional(), url: uri.optional() })).optional(),
  logos: z.strictObject({ small: z.string(), large: z.string() }),
  screenshots: z.array(z.strictObject({ name: z.string().optional(), path: z.string().optional() })).optional(),
  updated: z.string().regex(UPDATED),
  version: z.string().regex(VERSION),
});

const dependencies = z.strictObject({
  grafanaVersion: z.string().regex(GRAFANA_VERSION).optional(),
  grafanaDependency: z.string().regex(GRAFANA_DEPENDENCY),
  plugins: z
    .array(
      z.looseObject({
        id: z.string().regex(DEPENDENCY_ID),
        type: z.enum(['app', 'datasource', 'panel', 'secretsmanager']),
        name: z.string(),
        version: z.string(),
      }),
    )
    .optional(),
});

const route = z.strictObject({
  path: z.string().optional(),
  method: z.string().optional(),
  url: z.string().optional(),
  reqSignedIn: z.boolean().optional(),
  reqRole: z.string().optional(),
  headers: z.array(z.unknown()).optional(),
  body: z.record(z.string(), z.unknown()).optional(),
  tokenAuth: z
    .strictObject({
      url: z.string().optional(),
      scopes: z.array(z.string()).optional(),
      params: z.record(z.string(), z.unknown()).optional(),
    })
    .optional(),
  jwtTokenAuth: z.looseObject({ url: uri.optional(), scopes: z.array(z.string()).optional() }).optional(),
  urlParams: z.array(z.strictObject({ name: z.string().optional(), content: z.string().optional() })).optional(),
});

const include = z.looseObject({
  uid: z.string().optional(),
  type: z.enum(['dashboard', 'page', 'panel', 'datasource', 'secretsmanager']).optional(),
  name: z.string().optional(),
  component: z.string().optional(),
  role: z.enum(['Admin', 'Editor', 'Viewer']).optional(),
  path: z.string().optional(),
  addToNav: z.boolean().optional(),
  defaultNav: z.boolean().optional(),
  icon: z.string().optional(),
});

export const grafanaPluginJson = z.strictObject({
  $schema: z.string().optional(),
  id: z.string().regex(PLUGIN_ID),
  type: z.enum(['app', 'datasource', 'panel', 'renderer', 'secretsmanager', 'transformer']),
  name: z.string(),
  info,
  dependencies,
  alerting: z.boolean().optional(),
  annotations: z.boolean().optional(),
  autoEnabled: z.boolean().optional(),
  backend: z.boolean().optional(),
  builtIn: z.boolean().optional(),
  category: z.enum(['tsdb', 'logging', 'cloud', 'tracing', 'profiling', 'sql', 'enterprise', 'iot', 'other']).optional(),
  enterpriseFeatures: z.looseObject({ healthDiagnosticsErrors: z.boolean().optional() }).optional(),
  executable: z.string().optional(),
  hideFromList: z.boolean().optional(),
  includes: z.array(include).optional(),
  logs: z.boolean().optional(),
  metrics: z.boolean().optional(),
  pascalName: z
    .string()
    .regex(/^([A-Z][a-zA-Z]{1,62})$/)
    .optional(),
  preload: z.boolean().optional(),
  queryOptions: z
    .strictObject({ maxDataPoints: z.boolean().optional(), minInterval: z.boolean().optional(), cacheTimeout: z.boolean().optional() })
    .optional(),
  routes: z.array(route).optional(),
  skipDataQuery: z.boolean().optional(),
  state: z.enum(['alpha', 'beta']).optional(),
  streaming: z.boolean().optional(),
  tracing: z.boolean().optional(),
});

/** The problems zod finds, one line each with its JSON path, or [] when the file is valid. */
export function pluginJsonProblems(json: unknown): string[] {
  const result = grafanaPluginJson.safeParse(json);
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
}
