/**
 * Pure signal functions of the simulator: every value is a function of (channel spec, time)
 * only, so any window, any process and any test computes the same sample. No Math.random,
 * no state: randomness comes from an integer hash of (seed, channel, index).
 */

export const SIGNALS = ['sine', 'ramp', 'square', 'randomWalk'] as const;
export type SignalKind = (typeof SIGNALS)[number];

/** What a signal needs; `seed` is already resolved (see `resolveSeed`). */
export interface SignalSpec {
  signal: SignalKind;
  /** ms, > 0 */
  period: number;
  amplitude: number;
  offset: number;
  /** radians; shifts every signal by phase / 2π of a period */
  phase: number;
  /** safe integer */
  seed: number;
}

// Module-level copies: inside a vm context (jest's test environment) every `Math.x` is a
// global lookup through an interceptor that stops V8 optimising the hot loops (~100×).
const { imul, floor, sin } = Math;

const TWO_PI = 2 * Math.PI;
const TWO_POW_32 = 4294967296;

// ---------------------------------------------------------------------------------------
// Hashing: murmur3's 32-bit word mixing and finaliser, via imul so it stays in int32.

function mixWord(h: number, k: number): number {
  k = imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (imul(h, 5) + 0xe6546b64) | 0;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hash of five 32-bit words (a fixed arity keeps the hot loops free of rest arrays). */
export function hash5(a: number, b: number, c: number, d: number, e: number): number {
  let h = 0x5eed5eed;
  h = mixWord(h, a);
  h = mixWord(h, b);
  h = mixWord(h, c);
  h = mixWord(h, d);
  h = mixWord(h, e);
  return fmix32(h ^ 20);
}

/** Low and high 32-bit words of a safe integer (negative ones included, two's complement). */
export function lo32(n: number): number {
  return n >>> 0;
}
export function hi32(n: number): number {
  return floor(n / TWO_POW_32) >>> 0;
}

/** A stable 32-bit hash of a string (FNV-1a over UTF-16 units, then murmur's finaliser). */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = imul(h, 0x01000193);
  }
  return fmix32(h);
}

/** Maps a 32-bit hash onto [-1, 1], both ends included. */
export function toSigned(h: number): number {
  return (h / 0xffffffff) * 2 - 1;
}

/** The seed a channel uses: its own, or one derived from its name so channels differ. */
export function resolveSeed(name: string, seed: number | undefined): number {
  return seed ?? hashString(name);
}

// ---------------------------------------------------------------------------------------
// Periodic signals.

/**
 * Position in the current cycle, in [0, 1). `t mod period` first: t/period for epoch
 * times (~1e12 ms) would spend most of the double's precision on the cycle count.
 */
export function cyclePosition(t: number, period: number, phase: number): number {
  const m = t % period;
  const u = (m < 0 ? m + period : m) / period + phase / TWO_PI;
  return u - floor(u);
}

export function sine(t: number, s: SignalSpec): number {
  return s.offset + s.amplitude * sin(TWO_PI * cyclePosition(t, s.period, s.phase));
}

/** Sawtooth: offset at the start of each period, rising linearly towards offset + amplitude. */
export function ramp(t: number, s: SignalSpec): number {
  return s.offset + s.amplitude * cyclePosition(t, s.period, s.phase);
}

/** offset + amplitude in the first half of each period, offset in the second. */
export function square(t: number, s: SignalSpec): number {
  return cyclePosition(t, s.period, s.phase) < 0.5 ? s.offset + s.amplitude : s.offset;
}

// ---------------------------------------------------------------------------------------
// Random walk: fractal value noise, a pure function of t that wanders like a walk.

/** Octaves of value noise; the finest has a cell of period / 2^(OCTAVES-1). */
export const WALK_OCTAVES = 8;
/**
 * Amplitude ratio between octaves. A Brownian walk's would be 2^-0.5 ≈ 0.71; a little
 * less keeps the curve walk-like at the scale of a period without looking like pure noise.
 */
export const WALK_GAIN = 0.6;
const WALK_NORM = (() => {
  let sum = 0;
  for (let o = 0, a = 1; o < WALK_OCTAVES; o++, a *= WALK_GAIN) sum += a;
  return sum;
})();
/** Keeps the walk's lattice hashes apart from the noise hashes of the same seed. */
const WALK_SALT = 0x7a1c_e5b3;

function lattice(seedLo: number, seedHi: number, octave: number, i: number): number {
  return toSigned(hash5(seedLo, seedHi ^ WALK_SALT, octave, lo32(i), hi32(i)));
}

/**
 * A sum of octaves of smoothly interpolated hashed lattice values, normalised so the
 * result stays within [offset - amplitude, offset + amplitude]. `period` is the cell of
 * the coarsest octave: the time over which the walk decorrelates.
 */
export function randomWalk(t: number, s: SignalSpec): number {
  const seedLo = lo32(s.seed);
  const seedHi = hi32(s.seed);
  const shifted = t + (s.phase / TWO_PI) * s.period;
  let sum = 0;
  let amp = 1;
  let cell = s.period;
  for (let o = 0; o < WALK_OCTAVES; o++) {
    const x = shifted / cell;
    const i = floor(x);
    const f = x - i;
    const a = lattice(seedLo, seedHi, o, i);
    const b = lattice(seedLo, seedHi, o, i + 1);
    // Quintic smoothstep: continuous slope at lattice points, so no kinks every cell.
    const w = f * f * f * (f * (f * 6 - 15) + 10);
    sum += amp * (a + (b - a) * w);
    amp *= WALK_GAIN;
    cell /= 2;
  }
  return s.offset + (s.amplitude * sum) / WALK_NORM;
}

// ---------------------------------------------------------------------------------------

/**
 * Deterministic noise in [-amplitude, amplitude] for sample `index` of a channel: a hash of
 * (seed, channel, index), so two channels with one seed still get independent noise.
 */
export function noiseAt(amplitude: number, seed: number, channelHash: number, index: number): number {
  if (amplitude === 0) return 0;
  return amplitude * toSigned(hash5(lo32(seed), hi32(seed), channelHash, lo32(index), hi32(index)));
}

const SHAPES: Record<SignalKind, (t: number, s: SignalSpec) => number> = { sine, ramp, square, randomWalk };

/** The noise-free value of a signal at time t. */
export function shapeAt(t: number, s: SignalSpec): number {
  return SHAPES[s.signal](t, s);
}
