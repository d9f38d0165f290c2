/**
 * One way for every edge (config, plugin params, handler input) to turn a zod failure into
 * an AppError whose message and `field` name the offending path, e.g.
 * `instances.1.id: must be 1-64 letters, digits, "_" or "-"`.
 */
import type { z } from 'zod';
import { AppError, type ErrorCode } from './errors';

export interface ParseOptions {
  /** Error code to throw; BAD_REQUEST for client input, BAD_PARAMS for configuration. */
  code?: ErrorCode;
  /** Prepended to every field path (e.g. `params` so a plugin's field reads `params.file`). */
  fieldPrefix?: string;
}

type Segment = PropertyKey;

/** Minimal structural view of a zod issue, so issues from another zod copy format too. */
interface IssueLike {
  code: string;
  path: readonly Segment[];
  message: string;
  keys?: string[];
  expected?: string;
}

/** Parses `data` with `schema` or throws one clear AppError about the first problem. */
export function parseOrThrow<S extends z.ZodType>(schema: S, data: unknown, what: string, options: ParseOptions = {}): z.output<S> {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  throw zodToAppError(result.error.issues as unknown as IssueLike[], data, what, options);
}

/** Formats zod issues as an AppError: the first issue in full, a count of the rest. */
export function zodToAppError(issues: readonly IssueLike[], data: unknown, what: string, options: ParseOptions = {}): AppError {
  const code = options.code ?? 'BAD_REQUEST';
  const first = issues[0];
  if (!first) return new AppError(code, `invalid ${what}`, options.fieldPrefix);
  const { field, message } = describeIssue(first, data);
  const fullField = joinPath(options.fieldPrefix, field);
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
  const where = fullField ? `${fullField}: ` : '';
  return new AppError(code, `invalid ${what}: ${where}${message}${more}`, fullField || undefined);
}

function describeIssue(issue: IssueLike, data: unknown): { field: string; message: string } {
  const path = issue.path.map(String);
  // An unknown key is most useful named as the field itself (typos like `parms`).
  if (issue.code === 'unrecognized_keys' && issue.keys?.length) {
    return { field: joinPath(path.join('.'), issue.keys[0]), message: `unknown field${issue.keys.length > 1 ? `s ${issue.keys.join(', ')}` : ''}` };
  }
  // zod says "expected string, received undefined" for a missing field; say "required".
  if (issue.code === 'invalid_type' && valueAt(data, issue.path) === undefined) {
    return { field: path.join('.'), message: `required${issue.expected ? ` (expected ${issue.expected})` : ''}` };
  }
  return { field: path.join('.'), message: issue.message };
}

function valueAt(data: unknown, path: readonly Segment[]): unknown {
  let cur: unknown = data;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

function joinPath(a: string | undefined, b: string | undefined): string {
  return [a, b].filter((s) => s !== undefined && s !== '').join('.');
}
