/**
 * A running count of the grids the resampler and the rollup reader build: bucket rows
 * (time columns) and cells (value columns). Plain numbers bumped once per allocation, read
 * by `/metrics` at scrape time; the hostile-input tests read them to show that a refused
 * request built nothing.
 */
export const gridTally = { buckets: 0, cells: 0 };
