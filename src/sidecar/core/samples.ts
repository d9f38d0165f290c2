/**
 * Samples as pollers produce them and the store keeps them: per series (one polled point),
 * columnar — times, values and quality codes side by side — so a poll cycle's batch goes
 * to the store and the bus without per-sample objects.
 */
export interface SampleColumns {
  /** Epoch ms the value was read (or the device's own timestamp when it sends one). */
  times: Float64Array;
  values: Float64Array;
  /** QUALITY_CODE per sample. */
  qualities: Uint8Array;
}

/** New samples of several series, keyed by series id (a term-item link's key). */
export type SampleBatch = Map<string, SampleColumns>;

export function emptyColumns(): SampleColumns {
  return { times: new Float64Array(0), values: new Float64Array(0), qualities: new Uint8Array(0) };
}
