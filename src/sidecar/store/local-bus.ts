/**
 * In-process delivery of bus messages: the memory store's whole bus, and the Redis store's
 * local half (its own sidecar's subscribers hear its publications at once, and still do
 * while Redis is down; copies echoed back by Redis are skipped by origin).
 */
import type { Logger } from 'pino';
import type { SampleBatch } from '../core/samples';
import type { ModelEvent, Unsubscribe } from './types';

type SampleListener = (batch: SampleBatch, origin: string) => void;
type ModelListener = (events: ModelEvent[], origin: string) => void;

export class LocalBus {
  private readonly sampleListeners = new Set<SampleListener>();
  private readonly modelListeners = new Set<ModelListener>();

  constructor(private readonly logger: Logger) {}

  get sampleSubscribers(): number {
    return this.sampleListeners.size;
  }

  subscribeSamples(listener: SampleListener): Unsubscribe {
    // A wrapper per subscription, so the same function subscribed twice unsubscribes once each.
    const entry: SampleListener = (b, o) => listener(b, o);
    this.sampleListeners.add(entry);
    return () => void this.sampleListeners.delete(entry);
  }

  subscribeModelEvents(listener: ModelListener): Unsubscribe {
    const entry: ModelListener = (e, o) => listener(e, o);
    this.modelListeners.add(entry);
    return () => void this.modelListeners.delete(entry);
  }

  /** Synchronous, in subscription order; a throwing listener is logged and the rest still run. */
  deliverSamples(batch: SampleBatch, origin: string): void {
    for (const l of this.sampleListeners) {
      try {
        l(batch, origin);
      } catch (err) {
        this.logger.error({ err }, 'sample bus listener threw');
      }
    }
  }

  deliverModelEvents(events: ModelEvent[], origin: string): void {
    for (const l of this.modelListeners) {
      try {
        l(events, origin);
      } catch (err) {
        this.logger.error({ err }, 'model bus listener threw');
      }
    }
  }

  clear(): void {
    this.sampleListeners.clear();
    this.modelListeners.clear();
  }
}
