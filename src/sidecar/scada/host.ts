/**
 * A device's network address as users write it: an IPv4 or IPv6 literal, or a DNS host
 * name (RFC 1123: dot-separated labels of letters, digits and inner hyphens, 253 characters
 * at most). Checked when the model is written, so a typo is a 400 naming `host` rather than
 * a device that fails to connect forever.
 */
import { isIP } from 'node:net';
import { z } from 'zod';

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

export function isHost(value: string): boolean {
  if (isIP(value) !== 0) return true;
  const name = value.endsWith('.') ? value.slice(0, -1) : value;
  if (name.length === 0 || name.length > 253) return false;
  return name.split('.').every((label) => LABEL.test(label));
}

export const hostSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(253, 'must be at most 253 characters')
  .refine(isHost, 'must be an IPv4 or IPv6 address or a DNS host name (letters, digits, "-" and ".")');
