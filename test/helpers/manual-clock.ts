/**
 * A Clock that moves only when a test says so: `advance(ms)` runs every timer that falls due,
 * in time order, letting the promises they start settle in between.
 */
import type { Clock, ClockTimer } from '../../src/sidecar/core/clock';

interface Pending extends ClockTimer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

export class ManualClock implements Clock {
  private time: number;
  private seq = 0;
  private timers: Pending[] = [];

  constructor(start = 1_700_000_000_000) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): ClockTimer {
    const t: Pending = { at: this.time + Math.max(0, ms), seq: this.seq++, fn, cancelled: false, unref: () => undefined };
    this.timers.push(t);
    return t;
  }

  clearTimeout(timer: ClockTimer | undefined): void {
    if (timer) (timer as Pending).cancelled = true;
  }

  /** Timers waiting to fire. */
  get pending(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  /** Moves time forward by `ms`, firing due timers in order and settling the work they start. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      await settle();
      this.timers = this.timers.filter((t) => !t.cancelled);
      const next = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!next) break;
      this.timers.splice(this.timers.indexOf(next), 1);
      this.time = Math.max(this.time, next.at);
      next.fn();
    }
    this.time = end;
    await settle();
  }
}

/** Lets pending promise chains (and I/O already complete) run: several macrotask turns. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
