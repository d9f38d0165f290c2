/** What the harness page reports on `window.harness`, read by the Playwright test. */
export interface HarnessReport {
  ready: boolean;
  loadError?: string;
  state: string;
  rows: number;
  emissions: number;
  fields: string[];
  lastTime: number | null;
  /** The last row's values, one per field after time. */
  lastValues: Array<number | null>;
  /** Times strictly increase across the whole frame: no duplicate or reordered rows. */
  ascending: boolean;
  errors: string[];
  health?: { status: string; message: string };
}
