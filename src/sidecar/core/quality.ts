/**
 * The quality every SCADA value carries. Stored as a byte next to each value, so the
 * codes are fixed: never renumber them (stored data would change meaning).
 */
export const QUALITIES = ['good', 'bad', 'stale', 'comm_lost', 'uncertain', 'config_error'] as const;
export type Quality = (typeof QUALITIES)[number];

export const QUALITY_CODE: Record<Quality, number> = {
  good: 0,
  bad: 1,
  stale: 2,
  comm_lost: 3,
  uncertain: 4,
  config_error: 5,
};

export function qualityName(code: number): Quality {
  return QUALITIES[code] ?? 'bad';
}
