/**
 * Channel listing (for the query editor and template variables) and blob fetching.
 */
import { z } from 'zod';
import { CHANNEL_TYPES, type Channel } from '../registry/types';
import { parseOrThrow } from '../validation';
import { compileGlob, globMatches } from './glob';
import type { HandlerContext } from './context';
import type { BlobResult } from '../registry/instance';

const channelsRequestSchema = z.strictObject({
  /** One instance, or every ready one when left out. */
  instance: z.string().min(1).optional(),
  /** Case-insensitive substring of the name, unit or description; `*` and `?` are wildcards (matched in linear time, never as a regex). */
  search: z.string().max(256).optional(),
  type: z.union([z.enum(CHANNEL_TYPES), z.array(z.enum(CHANNEL_TYPES))]).optional(),
  limit: z.coerce.number().int().positive().max(10_000).default(1000),
});

export interface ListedChannel extends Channel {
  instance: string;
}

export interface ChannelList {
  channels: ListedChannel[];
  /** True when `limit` cut the list. */
  truncated: boolean;
}

export async function handleChannels(ctx: HandlerContext, input: unknown): Promise<ChannelList> {
  const req = parseOrThrow(channelsRequestSchema, input ?? {}, 'channels request');
  const ids = req.instance
    ? [req.instance]
    : ctx.registry
        .list()
        .filter((i) => i.state === 'ready')
        .map((i) => i.id);
  const types = req.type === undefined ? undefined : new Set(Array.isArray(req.type) ? req.type : [req.type]);
  const match = req.search ? matcher(req.search) : undefined;
  const out: ListedChannel[] = [];
  let truncated = false;
  for (const id of ids) {
    for (const ch of await ctx.registry.get(id).channels()) {
      if (types && !types.has(ch.type)) continue;
      if (match && !match(ch)) continue;
      if (out.length >= req.limit) {
        truncated = true;
        break;
      }
      out.push({ ...ch, instance: id });
    }
  }
  return { channels: out, truncated };
}

/** Longest stretch of a name, unit or description searched: plugins' texts are unbounded. */
const MAX_SEARCH_TEXT = 1024;

function matcher(search: string): (ch: Channel) => boolean {
  const glob = compileGlob(search);
  const test = (text: unknown): boolean => typeof text === 'string' && globMatches(glob, text.length > MAX_SEARCH_TEXT ? text.slice(0, MAX_SEARCH_TEXT) : text);
  return (ch) => test(ch.name) || test(ch.unit) || test(ch.description);
}

const blobRequestSchema = z.object({
  instance: z.string().min(1),
  channel: z.string().min(1),
  /** Everything else is the plugin's blob params (e.g. width, height). */
});

export async function handleBlob(ctx: HandlerContext, input: unknown): Promise<BlobResult> {
  const req = parseOrThrow(blobRequestSchema.passthrough(), input, 'blob request');
  const { instance, channel, ...params } = req;
  return ctx.registry.get(instance).blob(channel, params);
}
