/**
 * Time, injected: code that reads the time or waits takes a Clock, so tests drive time
 * (test/helpers/manual-clock.ts) instead of waiting for it. Epoch milliseconds.
 */
export interface ClockTimer {
  /** Lets the process exit while the timer is pending (no-op on a manual clock). */
  unref?(): void;
}

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): ClockTimer;
  clearTimeout(timer: ClockTimer | undefined): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
};

/** Calls `fn` every `ms` on `clock` until the returned function is called. */
export function every(clock: Clock, ms: number, fn: () => void): () => void {
  let timer: ClockTimer | undefined;
  let stopped = false;
  const arm = (): void => {
    timer = clock.setTimeout(() => {
      if (stopped) return;
      arm();
      fn();
    }, ms);
    timer.unref?.();
  };
  arm();
  return () => {
    stopped = true;
    clock.clearTimeout(timer);
  };
}
