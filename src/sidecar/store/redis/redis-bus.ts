/**
 * The Redis store's bus: samples and model events delivered locally at once and published
 * on Redis pub/sub for the other sidecars; what they publish is delivered here. A sidecar
 * skips its own publications when they come back.
 */
import type { SampleBatch } from '../../core/samples';
import { batchOrigin, decodeBatch, encodeBatch } from '../codec';
import { sleep } from '../common';
import type { LocalBus } from '../local-bus';
import type { ModelEvent, Unsubscribe } from '../types';
import { RedisPart, type RedisLink } from './link';

export class RedisBus extends RedisPart {
  /** Publications lost because Redis was away (the local half still got them). */
  busDropped = 0;
  readonly subscribed = new Set<string>();
  private sampleSubscribers = 0;
  private modelSubscribers = 0;

  constructor(
    link: RedisLink,
    private readonly bus: LocalBus,
  ) {
    super(link);
    link.sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.onMessage(channel.toString(), message));
  }

  publishSamples(batch: SampleBatch): void {
    if (this.closed || batch.size === 0) return;
    this.bus.deliverSamples(batch, this.instanceId);
    if (this.redis.status !== 'ready') {
      this.busDropped++;
      return;
    }
    let message: Buffer;
    try {
      message = encodeBatch(batch, this.instanceId);
    } catch (err) {
      this.logger.warn({ err }, 'publishSamples: batch could not be encoded');
      return;
    }
    this.redis.publish(this.keys.samplesChannel, message).catch(() => this.busDropped++);
  }

  subscribeSamples(listener: (batch: SampleBatch, origin: string) => void): Unsubscribe {
    const off = this.bus.subscribeSamples(listener);
    this.sampleSubscribers++;
    this.ensureSubscribed(this.keys.samplesChannel);
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      off();
      if (--this.sampleSubscribers === 0) this.unsubscribe(this.keys.samplesChannel);
    };
  }

  publishModelEvents(events: readonly ModelEvent[]): void {
    if (this.closed || events.length === 0) return;
    this.bus.deliverModelEvents([...events], this.instanceId);
    if (this.redis.status !== 'ready') {
      this.busDropped++;
      return;
    }
    this.redis.publish(this.keys.modelChannel, this.modelMessage(events)).catch(() => this.busDropped++);
  }

  subscribeModelEvents(listener: (events: ModelEvent[], origin: string) => void): Unsubscribe {
    const off = this.bus.subscribeModelEvents(listener);
    this.modelSubscribers++;
    this.ensureSubscribed(this.keys.modelChannel);
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      off();
      if (--this.modelSubscribers === 0) this.unsubscribe(this.keys.modelChannel);
    };
  }

  /**
   * Resolves true once Redis has confirmed every bus subscription made so far, also after a
   * reconnect (a message published before that is not seen by this sidecar's remote half).
   */
  async busReady(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // ioredis keeps the confirmed channels on its connection condition (re-filled on resubscribe).
      const condition = (this.sub as unknown as { condition?: { subscriber?: false | { channels(kind: string): string[] } } }).condition;
      const have = condition?.subscriber ? condition.subscriber.channels('subscribe') : [];
      if (this.sub.status === 'ready' && [...this.subscribed].every((c) => have.includes(c))) return true;
      if (this.closed || Date.now() >= deadline) return false;
      await sleep(10);
    }
  }

  modelMessage(events: readonly ModelEvent[]): string {
    return JSON.stringify({ o: this.instanceId, e: events.map(({ kind, op, id }) => ({ kind, op, id })) });
  }

  private ensureSubscribed(channel: string): void {
    if (this.subscribed.has(channel) || this.closed) return;
    this.subscribed.add(channel);
    this.sub.subscribe(channel).catch((err: Error) => {
      this.subscribed.delete(channel);
      this.logger.warn({ err: err.message, channel }, 'bus subscribe failed');
    });
  }

  private unsubscribe(channel: string): void {
    if (!this.subscribed.delete(channel) || this.closed) return;
    this.sub.unsubscribe(channel).catch(() => undefined);
  }

  private onMessage(channel: string, message: Buffer): void {
    try {
      if (channel === this.keys.samplesChannel) {
        // Our own publications come back too; they were delivered locally already: skip them unread.
        if (batchOrigin(message) === this.instanceId) return;
        const { origin, batch } = decodeBatch(message);
        this.bus.deliverSamples(batch, origin);
      } else if (channel === this.keys.modelChannel) {
        const { o, e } = JSON.parse(message.toString('utf8')) as { o: string; e: ModelEvent[] };
        if (o !== this.instanceId && Array.isArray(e)) this.bus.deliverModelEvents(e, o);
      }
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, channel }, 'malformed bus message ignored');
    }
  }

}
