/**
 * The SCADA model's one writer: CRUD of devices, terms, items and links (term items) over a
 * `ModelStore`, with the schemas and the integrity rules of integrity.ts.
 *
 * Every write is one transaction: read the revision, read the model, validate everything
 * (schemas, ids, references, addresses) against the model as it would be after the write,
 * then apply all puts and deletes in ONE `writeObjects` with `ifRevision` (and `publish`, so
 * the device manager starts, restarts or stops pollers). If another writer got in between
 * (another request, another sidecar on the same Redis), the whole transaction is redone on
 * the new model. A rejected or failed write leaves the model untouched.
 *
 * Objects are stored as their schema's output (defaults filled): devices, terms and items
 * under their id, links under `linkId(termId, itemId)` without an `id` field. What the
 * service answers adds that `id` to links (`LinkView`); a link input may carry it back (a GET,
 * edited, PUT), and it must then match.
 *
 * Errors: bad input and broken references are 400 naming the field (`address`,
 * `links.3.address`, `model.terms.0.deviceId`); unknown ids named in a path are 404 naming
 * the path parameter (`device_id`, `term_id`, `item_id`).
 *
 * Why one file over 400 lines: four resource kinds of short CRUD methods around one
 * transaction helper; split per kind they would each need the transaction's internals.
 */
import pino, { type Logger } from 'pino';
import { AppError } from '../../errors';
import type { ModelOp, ModelStore } from '../../store/types';
import { parseOrThrow } from '../../validation';
import { checkIntegrity, fieldOf, type Kind, type KindTypes, type ModelMaps, type OverlapMode, type Put } from './integrity';
import {
  deviceSchema,
  itemSchema,
  linkId,
  linkSchema,
  MODEL_ID,
  modelConfigSchema,
  termSchema,
  type Device,
  type Item,
  type Link,
  type Term,
} from './schemas';

/** A link as the service answers it: with its id, which is also its series id in the store. */
export type LinkView = Link & { id: string };

/** Everything a delete removed, cascades included. */
export interface DeleteSummary {
  devices: string[];
  terms: string[];
  items: string[];
  links: string[];
}

export interface ModelView {
  devices: Device[];
  terms: Term[];
  items: Item[];
  links: LinkView[];
}

export interface ModelServiceOptions {
  logger?: Logger;
  /** Partially overlapping Modbus links on one term and table: rejected (default) or only logged. */
  overlap?: OverlapMode;
  /** Transactions redone after losing an optimistic-concurrency race before giving up (default 8). */
  maxAttempts?: number;
  /** Largest `bulkLinks` request (default 10,000 links). */
  maxBulkLinks?: number;
}

export type BulkMode = 'create' | 'upsert';

/** What `loadFromConfig` changed. */
export interface LoadResult {
  /** Objects written (new or different from the stored ones); 0 on an unchanged restart. */
  written: number;
  revision: number;
}

type Del = { kind: Kind; id: string };
interface Plan<T> {
  puts?: Put[];
  deletes?: Del[];
  result: T;
}

const SCHEMAS = { device: deviceSchema, term: termSchema, item: itemSchema, link: linkSchema } as const;
const PATH_PARAM: Record<Exclude<Kind, 'link'>, string> = { device: 'device_id', term: 'term_id', item: 'item_id' };

export class ModelService {
  private readonly logger: Logger;
  private readonly overlap: OverlapMode;
  private readonly maxAttempts: number;
  private readonly maxBulkLinks: number;
  /** Writes of this process run one at a time (fewer lost races); `ifRevision` covers other processes. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: ModelStore,
    options: ModelServiceOptions = {},
  ) {
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.overlap = options.overlap ?? 'reject';
    this.maxAttempts = options.maxAttempts ?? 8;
    this.maxBulkLinks = options.maxBulkLinks ?? 10_000;
  }

  // ---- reads -----------------------------------------------------------------------------

  async getModel(): Promise<ModelView> {
    const m = await this.readAll();
    return { devices: sorted(m.device), terms: sorted(m.term), items: sorted(m.item), links: linkViews(m.link) };
  }

  async listDevices(): Promise<Device[]> {
    return sorted(await this.read('device'));
  }

  async getDevice(id: string): Promise<Device> {
    return this.getOne('device', id);
  }

  /** Terms, optionally of one device (404 when that device does not exist). */
  async listTerms(filter: { deviceId?: string } = {}): Promise<Term[]> {
    if (filter.deviceId !== undefined) await this.getOne('device', filter.deviceId);
    const terms = sorted(await this.read('term'));
    return filter.deviceId === undefined ? terms : terms.filter((t) => t.deviceId === filter.deviceId);
  }

  async getTerm(id: string): Promise<Term> {
    return this.getOne('term', id);
  }

  async listItems(): Promise<Item[]> {
    return sorted(await this.read('item'));
  }

  async getItem(id: string): Promise<Item> {
    return this.getOne('item', id);
  }

  /** Links, optionally of one term (404 when that term does not exist) and/or one item. */
  async listLinks(filter: { termId?: string; itemId?: string } = {}): Promise<LinkView[]> {
    if (filter.termId !== undefined) await this.getOne('term', filter.termId);
    return linkViews(await this.read('link')).filter(
      (l) => (filter.termId === undefined || l.termId === filter.termId) && (filter.itemId === undefined || l.itemId === filter.itemId),
    );
  }

  /** 404 naming `term_id` when the term is unknown, `item_id` when the term has no such link. */
  async getLink(termId: string, itemId: string): Promise<LinkView> {
    await this.getOne('term', termId);
    checkPathId(itemId, 'item_id');
    const link = await this.readOne('link', linkId(termId, itemId));
    if (!link) throw new AppError('NOT_FOUND', `term "${termId}" has no item "${itemId}"`, 'item_id');
    return { id: linkId(termId, itemId), ...link };
  }

  /** The link of `item` on `term` of `device` (the `datas` routes): three point reads, 404 naming the unknown id. */
  async resolveLink(deviceId: string, termId: string, itemId: string): Promise<LinkView> {
    await this.getOne('device', deviceId);
    const term = await this.getOne('term', termId);
    if (term.deviceId !== deviceId) throw new AppError('NOT_FOUND', `term "${termId}" is not on device "${deviceId}"`, 'term_id');
    return this.getLink(termId, itemId);
  }

  // ---- devices ---------------------------------------------------------------------------

  async createDevice(input: unknown): Promise<Device> {
    const device = parseAs('device', input, '');
    return this.transact((m) => {
      if (m.device.has(device.id)) throw exists('device', device.id);
      return { puts: [{ kind: 'device', id: device.id, value: device, field: '' }], result: device };
    });
  }

  /** PUT: full replace. The id in the path wins; a different `id` in the body is a 400. */
  async updateDevice(id: string, input: unknown): Promise<Device> {
    checkPathId(id, 'device_id');
    const device = parseAs('device', withPathIds(input, { id }), '');
    return this.transact((m) => {
      if (!m.device.has(id)) throw notFound('device', id);
      return { puts: [{ kind: 'device', id, value: device, field: '' }], result: device };
    });
  }

  /** Removes the device, its terms and their links in one atomic write (stopping its poller). */
  async deleteDevice(id: string): Promise<DeleteSummary> {
    checkPathId(id, 'device_id');
    return this.transact((m) => {
      if (!m.device.has(id)) throw notFound('device', id);
      const terms = [...m.term.values()].filter((t) => t.deviceId === id).map((t) => t.id);
      return this.deletePlan(m, { devices: [id], terms });
    });
  }

  // ---- terms -----------------------------------------------------------------------------

  async createTerm(input: unknown): Promise<Term> {
    const term = parseAs('term', input, '');
    return this.transact((m) => {
      if (m.term.has(term.id)) throw exists('term', term.id);
      return { puts: [{ kind: 'term', id: term.id, value: term, field: '' }], result: term };
    });
  }

  /** PUT: full replace; a term may move to another device (its links move with it). */
  async updateTerm(id: string, input: unknown): Promise<Term> {
    checkPathId(id, 'term_id');
    const term = parseAs('term', withPathIds(input, { id }), '');
    return this.transact((m) => {
      if (!m.term.has(id)) throw notFound('term', id);
      return { puts: [{ kind: 'term', id, value: term, field: '' }], result: term };
    });
  }

  /** Removes the term and its links. */
  async deleteTerm(id: string): Promise<DeleteSummary> {
    checkPathId(id, 'term_id');
    return this.transact((m) => {
      if (!m.term.has(id)) throw notFound('term', id);
      return this.deletePlan(m, { terms: [id] });
    });
  }

  // ---- items -----------------------------------------------------------------------------

  async createItem(input: unknown): Promise<Item> {
    const item = parseAs('item', input, '');
    return this.transact((m) => {
      if (m.item.has(item.id)) throw exists('item', item.id);
      return { puts: [{ kind: 'item', id: item.id, value: item, field: '' }], result: item };
    });
  }

  async updateItem(id: string, input: unknown): Promise<Item> {
    checkPathId(id, 'item_id');
    const item = parseAs('item', withPathIds(input, { id }), '');
    return this.transact((m) => {
      if (!m.item.has(id)) throw notFound('item', id);
      return { puts: [{ kind: 'item', id, value: item, field: '' }], result: item };
    });
  }

  /** Removes the item and its links on every term. */
  async deleteItem(id: string): Promise<DeleteSummary> {
    checkPathId(id, 'item_id');
    return this.transact((m) => {
      if (!m.item.has(id)) throw notFound('item', id);
      return this.deletePlan(m, { items: [id] });
    });
  }

  // ---- links (term items) ----------------------------------------------------------------

  /** Places an item on a term. With `termId` (from the path) the body's `termId` is optional. */
  async createLink(input: unknown, termId?: string): Promise<LinkView> {
    if (termId !== undefined) checkPathId(termId, 'term_id');
    const link = parseLink(input, '', { termId });
    const id = linkId(link.termId, link.itemId);
    return this.transact((m) => {
      if (termId !== undefined && !m.term.has(termId)) throw notFound('term', termId);
      if (m.link.has(id))
        throw new AppError('BAD_REQUEST', `itemId: item "${link.itemId}" is already on term "${link.termId}" (link ${id})`, 'itemId');
      return { puts: [{ kind: 'link', id, value: link, field: '' }], result: { id, ...link } };
    });
  }

  /** PUT: full replace of a link's encoding; term and item come from the path. */
  async updateLink(termId: string, itemId: string, input: unknown): Promise<LinkView> {
    checkPathId(termId, 'term_id');
    checkPathId(itemId, 'item_id');
    const link = parseLink(input, '', { termId, itemId });
    const id = linkId(termId, itemId);
    return this.transact((m) => {
      if (!m.term.has(termId)) throw notFound('term', termId);
      if (!m.link.has(id)) throw new AppError('NOT_FOUND', `term "${termId}" has no item "${itemId}"`, 'item_id');
      return { puts: [{ kind: 'link', id, value: link, field: '' }], result: { id, ...link } };
    });
  }

  async deleteLink(termId: string, itemId: string): Promise<DeleteSummary> {
    checkPathId(termId, 'term_id');
    checkPathId(itemId, 'item_id');
    const id = linkId(termId, itemId);
    return this.transact((m) => {
      if (!m.term.has(termId)) throw notFound('term', termId);
      if (!m.link.has(id)) throw new AppError('NOT_FOUND', `term "${termId}" has no item "${itemId}"`, 'item_id');
      return { deletes: [{ kind: 'link', id }], result: emptySummary({ links: [id] }) };
    });
  }

  /**
   * Many links at once (`POST /api/v2/term_items`): a list, or `{links: [...]}`. All or
   * nothing; errors name the index (`links.3.address`). `create` (default) refuses links that
   * exist; `upsert` replaces them. Duplicates within the request are refused either way.
   */
  async bulkLinks(input: unknown, options: { mode?: BulkMode } = {}): Promise<LinkView[]> {
    const mode = options.mode ?? 'create';
    const list = bulkList(input, this.maxBulkLinks);
    const links = list.map((el, i) => parseLink(el, `links.${i}`, {}));
    return this.transact((m) => {
      const puts: Put[] = links.map((link, i) => {
        const id = linkId(link.termId, link.itemId);
        if (mode === 'create' && m.link.has(id))
          throw new AppError(
            'BAD_REQUEST',
            `links.${i}.itemId: item "${link.itemId}" is already on term "${link.termId}" (link ${id})`,
            `links.${i}.itemId`,
          );
        return { kind: 'link', id, value: link, field: `links.${i}` };
      });
      return { puts, result: links.map((l) => ({ id: linkId(l.termId, l.itemId), ...l })) };
    });
  }

  // ---- config ----------------------------------------------------------------------------

  /**
   * Declares the config file's `model:` section: every object in it is created or replaced
   * (upsert), in one atomic write, with errors named `model.<kind>s.<i>.<field>`. Objects
   * equal to the stored ones are not rewritten, so an unchanged restart writes nothing and
   * publishes nothing. Objects created through the API and absent from the file are kept.
   */
  async loadFromConfig(model: unknown): Promise<LoadResult> {
    const cfg = parseOrThrow(modelConfigSchema, model ?? {}, 'model config', { code: 'BAD_PARAMS', fieldPrefix: 'model' });
    const puts: Put[] = [
      ...cfg.devices.map((value, i): Put => ({ kind: 'device', id: value.id, value, field: `model.devices.${i}` })),
      ...cfg.terms.map((value, i): Put => ({ kind: 'term', id: value.id, value, field: `model.terms.${i}` })),
      ...cfg.items.map((value, i): Put => ({ kind: 'item', id: value.id, value, field: `model.items.${i}` })),
      ...cfg.links.map((value, i): Put => ({ kind: 'link', id: linkId(value.termId, value.itemId), value, field: `model.links.${i}` })),
    ];
    let written = 0;
    try {
      await this.transact((m) => {
        written = puts.filter((p) => !sameJson(m[p.kind].get(p.id), p.value)).length;
        return { puts, result: undefined };
      });
    } catch (err) {
      // A broken reference in the file is a configuration error, like a schema error.
      if (err instanceof AppError && err.code === 'BAD_REQUEST')
        throw new AppError('BAD_PARAMS', `invalid model config: ${err.message}`, err.field);
      throw err;
    }
    return { written, revision: await this.store.modelRevision() };
  }

  // ---- device_call / device_ctrl ---------------------------------------------------------

  /**
   * The links an on-demand read covers: the whole device, one term of it, or one item (on
   * the given term, or on every term of the device). 404 naming the unknown id.
   */
  async callTargets(deviceId: string, termId?: string, itemId?: string): Promise<{ device: Device; links: LinkView[] }> {
    const device = await this.getOne('device', deviceId);
    const m = await this.readAll();
    let terms = [...m.term.values()].filter((t) => t.deviceId === deviceId);
    if (termId !== undefined) {
      if (!m.term.has(termId)) throw notFound('term', termId);
      terms = terms.filter((t) => t.id === termId);
      if (terms.length === 0) throw new AppError('NOT_FOUND', `term "${termId}" is not on device "${deviceId}"`, 'term_id');
    }
    const termIds = new Set(terms.map((t) => t.id));
    if (itemId !== undefined && !m.item.has(itemId)) throw notFound('item', itemId);
    const links = linkViews(m.link).filter((l) => termIds.has(l.termId) && (itemId === undefined || l.itemId === itemId));
    if (itemId !== undefined && links.length === 0)
      throw new AppError(
        'NOT_FOUND',
        `item "${itemId}" is not on ${termId !== undefined ? `term "${termId}"` : `any term of device "${deviceId}"`}`,
        'item_id',
      );
    return { device, links };
  }

  /**
   * The link a write (`device_ctrl`) goes to, after checking it may be written and that the
   * value's type fits its data type. 404 for unknown ids, 403 naming `item_id` for a link not
   * marked writable, 400 naming `value` for a value of the wrong type.
   */
  async controlTarget(deviceId: string, termId: string, itemId: string, value: unknown): Promise<{ device: Device; link: LinkView }> {
    const { device, links } = await this.callTargets(deviceId, termId, itemId);
    const link = links[0];
    // FORBIDDEN, as the device manager answers: the request is fine, the model does not allow it.
    if (!link.writable || link.table === 'discrete' || link.table === 'input')
      throw new AppError(
        'FORBIDDEN',
        `item_id: link ${link.id} is not writable (set "writable": true on the term item to allow device_ctrl)`,
        'item_id',
      );
    const why = valueProblem(link, value);
    if (why) throw new AppError('BAD_REQUEST', `value: ${why}`, 'value');
    return { device, link };
  }

  // ---- internals -------------------------------------------------------------------------

  private deletePlan(m: ModelMaps, start: { devices?: string[]; terms?: string[]; items?: string[] }): Plan<DeleteSummary> {
    const devices = start.devices ?? [];
    const terms = start.terms ?? [];
    const items = start.items ?? [];
    const termSet = new Set(terms);
    const itemSet = new Set(items);
    // Keys as stored: a link's key is its id.
    const links = [...m.link.entries()].filter(([, l]) => termSet.has(l.termId) || itemSet.has(l.itemId)).map(([k]) => k);
    links.sort();
    const deletes: Del[] = [
      ...links.map((id): Del => ({ kind: 'link', id })),
      ...terms.map((id): Del => ({ kind: 'term', id })),
      ...items.map((id): Del => ({ kind: 'item', id })),
      ...devices.map((id): Del => ({ kind: 'device', id })),
    ];
    return { deletes, result: { devices, terms: [...terms].sort(), items, links } };
  }

  /** Runs `build` on a fresh model and writes its plan atomically, redoing it after a lost race. */
  private transact<T>(build: (m: ModelMaps) => Plan<T>): Promise<T> {
    const run = async (): Promise<T> => {
      for (let attempt = 1; ; attempt++) {
        // The revision is read first: anything written after it makes the write below fail.
        const revision = await this.store.modelRevision();
        const m = await this.readAll();
        const { puts = [], deletes = [], result } = build(m);
        const ops = this.validate(m, puts, deletes);
        if (ops.length === 0) return result;
        const w = await this.store.writeObjects(ops, { publish: true, ifRevision: revision });
        if (w.ok) return result;
        if (attempt >= this.maxAttempts)
          throw new AppError('CONFLICT', `the model kept changing under this write (${attempt} attempts); try again`);
        this.logger.debug({ attempt, revision, now: w.revision }, 'model changed concurrently; redoing the write');
      }
    };
    const next = this.tail.then(run, run);
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** Checks a plan against the model it would produce; returns the ops that change something. */
  private validate(m: ModelMaps, puts: readonly Put[], deletes: readonly Del[]): ModelOp[] {
    const next: ModelMaps = { device: new Map(m.device), term: new Map(m.term), item: new Map(m.item), link: new Map(m.link) };
    for (const d of deletes) next[d.kind].delete(d.id);
    const seen = new Map<string, Put>();
    for (const p of puts) {
      const key = `${p.kind}\u0000${p.id}`;
      const first = seen.get(key);
      if (first) {
        const field = p.kind === 'link' ? 'itemId' : 'id';
        throw new AppError(
          'BAD_REQUEST',
          `${fieldOf(p.field, field)}: ${p.kind} ${p.id} is already in this request${first.field ? ` at ${first.field}` : ''}`,
          fieldOf(p.field, field),
        );
      }
      seen.set(key, p);
      (next[p.kind] as Map<string, unknown>).set(p.id, p.value);
    }
    for (const w of checkIntegrity(next, puts, this.overlap)) this.logger.warn(w);
    const ops: ModelOp[] = [];
    for (const d of deletes) if (m[d.kind].has(d.id)) ops.push({ op: 'delete', kind: d.kind, id: d.id });
    for (const p of puts) if (!sameJson(m[p.kind].get(p.id), p.value)) ops.push({ op: 'put', kind: p.kind, id: p.id, value: p.value });
    return ops;
  }

  private async readAll(): Promise<ModelMaps> {
    const [device, term, item, link] = await Promise.all([this.read('device'), this.read('term'), this.read('item'), this.read('link')]);
    return { device, term, item, link };
  }

  /**
   * Stored objects, parsed again so defaults added by a newer schema are filled in. One that
   * no longer parses (written by another version) is kept as stored and logged: leaving it
   * out would hide it from cascading deletes.
   */
  private async read<K extends Kind>(kind: K): Promise<Map<string, KindTypes[K]>> {
    const raw = await this.store.listObjects(kind);
    const out = new Map<string, KindTypes[K]>();
    for (const [id, value] of raw) out.set(id, this.normalize(kind, id, value));
    return out;
  }

  private async readOne<K extends Kind>(kind: K, id: string): Promise<KindTypes[K] | undefined> {
    const raw = await this.store.getObject(kind, id);
    return raw === undefined ? undefined : this.normalize(kind, id, raw);
  }

  private normalize<K extends Kind>(kind: K, id: string, value: unknown): KindTypes[K] {
    const r = SCHEMAS[kind].safeParse(value);
    if (r.success) return r.data as KindTypes[K];
    this.logger.warn({ kind, id, issue: r.error.issues[0]?.message }, 'stored model object does not match the schema');
    return value as KindTypes[K];
  }

  private async getOne<K extends Exclude<Kind, 'link'>>(kind: K, id: string): Promise<KindTypes[K]> {
    checkPathId(id, PATH_PARAM[kind]);
    const value = await this.readOne(kind, id);
    if (value === undefined) throw notFound(kind, id);
    return value;
  }
}

// ---- helpers ---------------------------------------------------------------------------

function parseAs<K extends Exclude<Kind, 'link'>>(kind: K, input: unknown, prefix: string): KindTypes[K] {
  return parseOrThrow(SCHEMAS[kind], input, kind, { fieldPrefix: prefix || undefined }) as KindTypes[K];
}

/**
 * A link input: `termId`/`itemId` may come from the path (a different one in the body is a
 * 400), and an `id` (as answered by a GET) is accepted when it is the link's own.
 */
function parseLink(input: unknown, prefix: string, path: { termId?: string; itemId?: string }): Link {
  let body = input;
  if (isPlainObject(input)) {
    const { id, ...rest } = withPathIds(input, path, prefix) as Record<string, unknown>;
    if (
      id !== undefined &&
      (typeof rest.termId !== 'string' || typeof rest.itemId !== 'string' || id !== linkId(rest.termId, rest.itemId))
    ) {
      const field = fieldOf(prefix, 'id');
      throw new AppError('BAD_REQUEST', `invalid link: ${field}: must be "<termId>:<itemId>" of this link, or left out`, field);
    }
    body = rest;
  }
  return parseOrThrow(linkSchema, body, 'link', { fieldPrefix: prefix || undefined });
}

/** Fills ids from the path into a body; one the body gives differently is a 400 naming it. */
function withPathIds(input: unknown, ids: Record<string, string | undefined>, prefix = ''): unknown {
  if (!isPlainObject(input)) return input;
  const out: Record<string, unknown> = { ...input };
  for (const [key, value] of Object.entries(ids)) {
    if (value === undefined) continue;
    if (out[key] !== undefined && out[key] !== value) {
      const field = fieldOf(prefix, key);
      throw new AppError('BAD_REQUEST', `${field}: ${JSON.stringify(out[key])} differs from "${value}" in the path`, field);
    }
    out[key] = value;
  }
  return out;
}

function bulkList(input: unknown, max: number): unknown[] {
  let list: unknown = input;
  if (isPlainObject(input)) {
    const extra = Object.keys(input).find((k) => k !== 'links');
    if (extra !== undefined)
      throw new AppError('BAD_REQUEST', `invalid term items: ${extra}: unknown field (send {"links": [...]} or a list)`, extra);
    list = input.links;
  }
  if (!Array.isArray(list)) throw new AppError('BAD_REQUEST', 'invalid term items: links: required (a list of links)', 'links');
  if (list.length > max) throw new AppError('LIMIT_EXCEEDED', `links: at most ${max} links per request, got ${list.length}`, 'links');
  return list;
}

/** Why `value` cannot be written to `link`, or undefined. The codec checks ranges on encoding. */
function valueProblem(link: Link, value: unknown): string | undefined {
  if (value === undefined) return 'required';
  if (link.dataType === 'bool' || link.dataType === 'bit') {
    return value === true || value === false || value === 0 || value === 1 ? undefined : `a ${link.dataType} takes true, false, 0 or 1`;
  }
  if (link.dataType === 'string') {
    const max = (link.length ?? 1) * 2;
    if (typeof value !== 'string') return 'a string link takes a string';
    // eslint-disable-next-line no-control-regex
    if (!/^[\x00-\x7f]*$/.test(value)) return 'only ASCII characters fit in registers';
    return value.length > max ? `at most ${max} characters fit in ${link.length} registers` : undefined;
  }
  return typeof value === 'number' && Number.isFinite(value) ? undefined : `a ${link.dataType} link takes a finite number`;
}

/** Ids named in a path: malformed is a 400 naming the parameter (not a 404). */
export function checkPathId(id: unknown, param: string): asserts id is string {
  if (typeof id !== 'string' || !MODEL_ID.test(id))
    throw new AppError('BAD_REQUEST', `${param}: must be 1-64 letters, digits, "_" or "-"`, param);
}

function notFound(kind: Exclude<Kind, 'link'>, id: string): AppError {
  return new AppError('NOT_FOUND', `${kind} "${id}" does not exist`, PATH_PARAM[kind]);
}

function exists(kind: Kind, id: string): AppError {
  return new AppError('BAD_REQUEST', `id: ${kind} "${id}" already exists (PUT replaces it)`, 'id');
}

function emptySummary(part: Partial<DeleteSummary>): DeleteSummary {
  return { devices: [], terms: [], items: [], links: [], ...part };
}

function sorted<T extends { id: string }>(map: ReadonlyMap<string, T>): T[] {
  return [...map.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function linkViews(map: ReadonlyMap<string, Link>): LinkView[] {
  return [...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([id, l]) => ({ id, ...l }));
}

function sameJson(a: unknown, b: unknown): boolean {
  return a !== undefined && JSON.stringify(a) === JSON.stringify(b);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
