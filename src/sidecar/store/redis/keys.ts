/**
 * Key names (see docs/redis-layout.md). Every key of a series carries the series id as its
 * hash tag, `{id}`, so a series' chunks, rollups and latest value live in one Cluster slot
 * and one script can touch them all; the model shares the tag `{model}` so a multi-object
 * write is one atomic script in one slot. The prefix must not contain braces.
 */
export class Keys {
  readonly samplesChannel: string;
  readonly modelChannel: string;
  readonly modelRevision: string;

  /** Rollup key infix: resolution and slots per chunk, so a changed setting never misreads old slots. */
  readonly rollupInfix: string;

  constructor(
    readonly prefix: string,
    resolution: number,
    slotsPerChunk: number,
  ) {
    this.rollupInfix = `u${resolution}x${slotsPerChunk}:`;
    this.samplesChannel = `${prefix}bus:samples`;
    this.modelChannel = `${prefix}bus:model`;
    this.modelRevision = `${prefix}{model}:rev`;
  }

  /** What every key of a series starts with: prefix and hash tag. */
  seriesPrefix(series: string): string {
    return `${this.prefix}{${series}}:`;
  }

  /** Raw rows of a series for the chunk starting at `chunkStart` (epoch ms). */
  raw(series: string, chunkStart: number): string {
    return `${this.prefix}{${series}}:r:${chunkStart}`;
  }

  /** Rollup slots of the chunk starting at `chunkStart`. */
  rollup(series: string, chunkStart: number): string {
    return `${this.prefix}{${series}}:${this.rollupInfix}${chunkStart}`;
  }

  latest(series: string): string {
    return `${this.prefix}{${series}}:l`;
  }

  model(kind: string): string {
    return `${this.prefix}{model}:${kind}`;
  }

  lease(name: string): string {
    return `${this.prefix}lease:{${name}}`;
  }
}
