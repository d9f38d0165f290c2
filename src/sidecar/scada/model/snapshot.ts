/**
 * A parsed, cross-referenced copy of the SCADA model as the store holds it. Protocol
 * drivers map a device of it onto their own config (scada/drivers/<protocol>/plan.ts).
 *
 * The model layer validates writes, but the manager reads the store directly (and another
 * sidecar, or an older version, may have written it), so every object is parsed again here
 * and anything unusable is left out with a reason rather than taking polling down.
 */
import { deviceSchema, itemSchema, linkId, linkSchema, termSchema, type Device, type Item, type Link, type Term } from './schemas';
import type { ModelKind, Store } from '../../store/types';

/** A link with its id (`linkId(termId, itemId)`, also its series id) and the key it is stored under. */
export interface ModelLink extends Link {
  id: string;
  storeKey: string;
}

/** Why an object of the model was left out. */
export interface ModelProblem {
  kind: ModelKind;
  id: string;
  message: string;
}

export interface ModelSnapshot {
  /** Increases with every reload that changed something (for caches keyed on it). */
  version: number;
  devices: ReadonlyMap<string, Device>;
  terms: ReadonlyMap<string, Term>;
  items: ReadonlyMap<string, Item>;
  /** By link id. */
  links: ReadonlyMap<string, ModelLink>;
  /** Term ids per device id, sorted. */
  termsByDevice: ReadonlyMap<string, readonly string[]>;
  /** Link ids per term id, sorted. */
  linksByTerm: ReadonlyMap<string, readonly string[]>;
  /** Objects that did not parse or refer to something missing. */
  problems: readonly ModelProblem[];
  /** The store's model revision when this was read (0 for a snapshot not read from a store). */
  storeRevision: number;
}

export const EMPTY_SNAPSHOT: ModelSnapshot = {
  version: 0,
  devices: new Map(),
  terms: new Map(),
  items: new Map(),
  links: new Map(),
  termsByDevice: new Map(),
  linksByTerm: new Map(),
  problems: [],
  storeRevision: 0,
};

/** Reads the four kinds (in parallel) and parses them; throws only when the store does. */
export async function loadModel(store: Store, version: number): Promise<ModelSnapshot> {
  const [revision, devs, trms, itms, lnks] = await Promise.all([
    store.modelRevision(),
    store.listObjects('device'),
    store.listObjects('term'),
    store.listObjects('item'),
    store.listObjects('link'),
  ]);
  return { ...buildSnapshot(devs, trms, itms, lnks, version), storeRevision: revision };
}

export function buildSnapshot(
  rawDevices: ReadonlyMap<string, unknown>,
  rawTerms: ReadonlyMap<string, unknown>,
  rawItems: ReadonlyMap<string, unknown>,
  rawLinks: ReadonlyMap<string, unknown>,
  version: number,
): ModelSnapshot {
  const problems: ModelProblem[] = [];
  const parse = <T extends { id: string }>(
    kind: ModelKind,
    raw: ReadonlyMap<string, unknown>,
    schema: {
      safeParse(
        v: unknown,
      ): { success: true; data: T } | { success: false; error: { issues: Array<{ path: PropertyKey[]; message: string }> } };
    },
  ): Map<string, T> => {
    const out = new Map<string, T>();
    for (const [key, value] of [...raw].sort(byKey)) {
      const r = schema.safeParse(value);
      if (!r.success) {
        problems.push({ kind, id: key, message: describe(r.error.issues) });
        continue;
      }
      if (r.data.id !== key) {
        problems.push({ kind, id: key, message: `stored under "${key}" but its id is "${r.data.id}"` });
        continue;
      }
      out.set(key, r.data);
    }
    return out;
  };
  const devices = parse<Device>('device', rawDevices, deviceSchema);
  const terms = parse<Term>('term', rawTerms, termSchema);
  const items = parse<Item>('item', rawItems, itemSchema);

  const termsByDevice = new Map<string, string[]>();
  for (const [id, t] of terms) {
    if (!devices.has(t.deviceId)) {
      problems.push({ kind: 'term', id, message: `device "${t.deviceId}" does not exist` });
      continue;
    }
    push(termsByDevice, t.deviceId, id);
  }

  const links = new Map<string, ModelLink>();
  const linksByTerm = new Map<string, string[]>();
  for (const [key, value] of [...rawLinks].sort(byKey)) {
    const r = parseLink(value);
    if (!r.success) {
      problems.push({ kind: 'link', id: key, message: describe(r.error.issues) });
      continue;
    }
    const id = linkId(r.data.termId, r.data.itemId);
    const term = terms.get(r.data.termId);
    if (!term || !devices.has(term.deviceId)) {
      problems.push({ kind: 'link', id: key, message: `term "${r.data.termId}" does not exist` });
      continue;
    }
    if (!items.has(r.data.itemId)) {
      problems.push({ kind: 'link', id: key, message: `item "${r.data.itemId}" does not exist` });
      continue;
    }
    if (links.has(id)) {
      problems.push({ kind: 'link', id: key, message: `duplicate of link ${id}` });
      continue;
    }
    links.set(id, { ...r.data, id, storeKey: key });
    push(linksByTerm, r.data.termId, id);
  }
  return { version, devices, terms, items, links, termsByDevice, linksByTerm, problems, storeRevision: 0 };
}

/**
 * A stored link. The model service stores links without an `id` (their key is the id), but a
 * view written back with its `id` is the same link, so that field is dropped before the
 * strict schema sees it.
 */
export function parseLink(value: unknown): ReturnType<typeof linkSchema.safeParse> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && 'id' in value) {
    const { id: _id, ...rest } = value as Record<string, unknown>;
    return linkSchema.safeParse(rest);
  }
  return linkSchema.safeParse(value);
}

/** The channel-facing facts of a link: ids of its device, term and item. */
export function linkPath(snapshot: ModelSnapshot, id: string): { deviceId: string; termId: string; itemId: string } | undefined {
  const l = snapshot.links.get(id);
  const t = l && snapshot.terms.get(l.termId);
  return l && t ? { deviceId: t.deviceId, termId: l.termId, itemId: l.itemId } : undefined;
}

/** Link ids of a device, in term then link order. */
export function deviceLinks(snapshot: ModelSnapshot, deviceId: string): string[] {
  const out: string[] = [];
  for (const termId of snapshot.termsByDevice.get(deviceId) ?? []) out.push(...(snapshot.linksByTerm.get(termId) ?? []));
  return out;
}

function push(map: Map<string, string[]>, key: string, value: string): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function byKey(a: [string, unknown], b: [string, unknown]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

export function describe(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>): string {
  const first = issues[0];
  if (!first) return 'invalid';
  const path = first.path.map(String).join('.');
  return `${path ? `${path}: ` : ''}${first.message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}`;
}
