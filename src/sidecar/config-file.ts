/**
 * Reads the sidecar's YAML config file. Only reading and YAML syntax live here; each part
 * of the config is validated by its own schema (e.g. registry/config.ts), so errors can
 * name the field.
 */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { parseDocument } from 'yaml';
import { AppError } from './errors';

export interface ConfigFile {
  /** The parsed YAML; an empty file is `{}` so "all defaults" is a valid config. */
  data: unknown;
  /** The config file's directory: relative paths in the config resolve against it. */
  baseDir: string;
  /** Absolute path of the file read. */
  path: string;
}

export async function loadConfigFile(file: string): Promise<ConfigFile> {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory, not a file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new AppError('BAD_REQUEST', `cannot read config file ${abs}: ${why}`);
  }

  // uniqueKeys (the default) makes a repeated key an error instead of a silent override.
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    // yaml's messages carry a multi-line source excerpt; the first line has the position.
    const first = doc.errors[0].message.split('\n')[0];
    const more = doc.errors.length > 1 ? ` (and ${doc.errors.length - 1} more)` : '';
    throw new AppError('BAD_PARAMS', `bad YAML in config file ${abs}: ${first}${more}`);
  }
  const data: unknown = doc.toJS() ?? {};
  return { data, baseDir: path.dirname(abs), path: abs };
}
