/**
 * The simulator's params, validated by zod. Objects are strict so a typo in a config
 * file ("amplitute") is an error naming the field rather than a silently ignored key.
 * The schema only fills defaults (no transforms), so parsing parsed params is a no-op:
 * the class may parse again whatever the registry hands it.
 */
import { z } from 'zod';
import { SIGNALS } from './signals';

/** Object channels the simulator adds; timeseries channels may not take these names. */
export const DEVICES_CHANNEL = 'devices';
export const MODEL_CHANNEL = 'model';
export const HISTOGRAM_SUFFIX = '_histogram';

// XML 1.0 cannot carry most control characters even escaped, and names end up in SVG.
// eslint-disable-next-line no-control-regex
const NO_CONTROL = /^[^\u0000-\u001f\u007f]*$/;

const text = (max: number) =>
  z.string().max(max, `must be at most ${max} characters`).regex(NO_CONTROL, 'must not contain control characters');

export const channelSpecSchema = z.strictObject({
  name: text(128).min(1, 'must not be empty'),
  signal: z.enum(SIGNALS),
  /** ms; the cycle of sine/ramp/square, the decorrelation time of randomWalk. */
  period: z.number().finite().min(1, 'must be a positive number of ms (at least 1)').default(60_000),
  amplitude: z.number().finite().default(1),
  offset: z.number().finite().default(0),
  /** Amplitude of deterministic noise added to every sample. */
  noise: z.number().finite().min(0, 'must not be negative').default(0),
  /** Integer seed of randomWalk and noise; omitted, it is derived from the name. */
  seed: z.int().optional(),
  /** radians */
  phase: z.number().finite().default(0),
  unit: text(64).optional(),
  description: text(1024).optional(),
});

export type ChannelSpec = z.output<typeof channelSpecSchema>;
export type ChannelSpecInput = z.input<typeof channelSpecSchema>;

/** What users see with no config: one channel per signal kind, plus a noisy flow. */
export const DEFAULT_CHANNELS: ChannelSpec[] = [
  {
    name: 'temperature',
    signal: 'sine',
    period: 600_000,
    amplitude: 5,
    offset: 20,
    noise: 0.2,
    phase: 0,
    unit: 'degC',
    description: 'Simulated process temperature (10 min sine)',
  },
  {
    name: 'level',
    signal: 'ramp',
    period: 300_000,
    amplitude: 100,
    offset: 0,
    noise: 0,
    phase: 0,
    unit: '%',
    description: 'Simulated tank level (5 min ramp)',
  },
  {
    name: 'pump_on',
    signal: 'square',
    period: 120_000,
    amplitude: 1,
    offset: 0,
    noise: 0,
    phase: 0,
    description: 'Simulated pump state, 1 = running (2 min square)',
  },
  {
    name: 'pressure',
    signal: 'randomWalk',
    period: 900_000,
    amplitude: 1,
    offset: 2.5,
    noise: 0.01,
    seed: 1,
    phase: 0,
    unit: 'bar',
    description: 'Simulated line pressure (random walk)',
  },
  {
    name: 'flow',
    signal: 'sine',
    period: 180_000,
    amplitude: 10,
    offset: 50,
    noise: 2,
    phase: Math.PI / 2,
    unit: 'm3/h',
    description: 'Simulated flow (3 min sine with noise)',
  },
];

export const simulatorParamsSchema = z
  .strictObject({
    /** Samples exist at every multiple of this since the epoch. */
    sampleIntervalMs: z.int().min(1, 'must be at least 1 ms').max(86_400_000, 'must be at most one day (86400000 ms)').default(1000),
    channels: z
      .array(channelSpecSchema)
      .min(1, 'must list at least one channel (leave it out for the default set)')
      .max(1000, 'must list at most 1000 channels')
      .default(() => DEFAULT_CHANNELS.map((c) => ({ ...c }))),
  })
  .superRefine((params, ctx) => {
    const seen = new Map<string, number>();
    params.channels.forEach((ch, i) => {
      const path = ['channels', i, 'name'];
      const first = seen.get(ch.name);
      if (first !== undefined) {
        ctx.addIssue({ code: 'custom', path, message: `duplicate channel name "${ch.name}" (also channels[${first}])` });
      } else {
        seen.set(ch.name, i);
      }
      // The object channels' names are derived from or next to these; keep them unambiguous.
      if (ch.name === DEVICES_CHANNEL || ch.name === MODEL_CHANNEL) {
        ctx.addIssue({ code: 'custom', path, message: `"${ch.name}" is reserved for the simulator's ${ch.name} channel` });
      } else if (ch.name.endsWith(HISTOGRAM_SUFFIX)) {
        ctx.addIssue({ code: 'custom', path, message: `names ending in "${HISTOGRAM_SUFFIX}" are reserved for histogram channels` });
      }
    });
  });

export type SimulatorParams = z.output<typeof simulatorParamsSchema>;
export type SimulatorParamsInput = z.input<typeof simulatorParamsSchema>;

/** Params of `getBlob` (the SVG sparkline). Numeric strings are accepted: they may come from a URL. */
const numeric = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v), schema);

export const sparklineParamsSchema = z.object({
  lengthMs: numeric(z.int().min(1, 'must be at least 1 ms').max(366 * 86_400_000, 'must be at most 366 days')).default(3_600_000),
  /** End of the window; defaults to (and is clamped at) now. */
  to: numeric(z.number().finite()).optional(),
  width: numeric(z.int().min(16, 'must be at least 16 px').max(4096, 'must be at most 4096 px')).default(300),
  height: numeric(z.int().min(8, 'must be at least 8 px').max(2048, 'must be at most 2048 px')).default(60),
});

export type SparklineParams = z.output<typeof sparklineParamsSchema>;
