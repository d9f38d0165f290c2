/**
 * The Redis store's model (devices, terms, items, links as JSON in one hash per kind) with a
 * revision, written atomically by a script that can publish the change in the same step.
 */
import { checkId, checkKind, prepareOps } from '../common';
import type { LocalBus } from '../local-bus';
import type { ModelEvent, ModelKind, ModelOp, ModelWriteOptions, ModelWriteResult } from '../types';
import { RedisPart, type RedisLink } from './link';

export class RedisModel extends RedisPart {
  constructor(
    link: RedisLink,
    private readonly bus: LocalBus,
    /** The bus's message format for model events (published by the write script). */
    private readonly modelMessage: (events: readonly ModelEvent[]) => string,
  ) {
    super(link);
  }

  putObject(kind: ModelKind, id: string, value: unknown, options?: ModelWriteOptions): Promise<ModelWriteResult> {
    return this.writeObjects([{ op: 'put', kind, id, value }], options);
  }

  async getObject<T = unknown>(kind: ModelKind, id: string): Promise<T | undefined> {
    checkKind(kind);
    checkId(id);
    const json = await this.call(() => this.redis.hget(this.keys.model(kind), id));
    return json === null ? undefined : (JSON.parse(json) as T);
  }

  async listObjects<T = unknown>(kind: ModelKind): Promise<Map<string, T>> {
    checkKind(kind);
    const all = await this.call(() => this.redis.hgetall(this.keys.model(kind)));
    const out = new Map<string, T>();
    for (const id of Object.keys(all).sort()) out.set(id, JSON.parse(all[id]) as T);
    return out;
  }

  deleteObjects(kind: ModelKind, ids: readonly string[], options?: ModelWriteOptions): Promise<ModelWriteResult> {
    return this.writeObjects(
      ids.map((id) => ({ op: 'delete', kind, id })),
      options,
    );
  }

  async writeObjects(ops: readonly ModelOp[], options: ModelWriteOptions = {}): Promise<ModelWriteResult> {
    const prepared = prepareOps(ops);
    const events: ModelEvent[] = prepared.map(({ kind, op, id }) => ({ kind, op, id }));
    const keys = [this.keys.modelRevision, ...prepared.map((o) => this.keys.model(o.kind))];
    const args: Array<string | number> = [
      options.ifRevision === undefined ? '' : String(options.ifRevision),
      this.keys.modelChannel,
      options.publish && events.length > 0 ? this.modelMessage(events) : '',
    ];
    for (const o of prepared) args.push(o.op, o.id, o.json ?? '');
    const [ok, revision, deleted] = await this.call(() => this.redis.scadaModelWrite(keys.length, ...keys, ...args));
    if (ok === 1 && options.publish && events.length > 0) this.bus.deliverModelEvents(events, this.instanceId);
    return { ok: ok === 1, revision: Number(revision), deleted: Number(deleted) };
  }

  async modelRevision(): Promise<number> {
    return Number((await this.call(() => this.redis.get(this.keys.modelRevision))) ?? 0);
  }

}
