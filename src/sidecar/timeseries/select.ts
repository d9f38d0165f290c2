/**
 * In-place selection on a Float64Array range, for the median reducer: O(n) on average,
 * with no allocation, so a bucket's median costs about as much as reading it.
 */

/** Ranges this short are finished by the branch-free partition rather than Hoare's. */
const SMALL = 32;

/**
 * Rearranges `a[0..n-1]` so that `a[k]` holds the k-th smallest value, every value before it
 * is <= a[k] and every value after it is >= a[k].
 */
export function selectKth(a: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  // Hoare partitions around a median of three (which keeps sorted and reversed runs linear):
  // few swaps, and on the trending, nearly sorted runs of large buckets well-predicted branches.
  while (hi - lo > SMALL) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < a[lo]) swap(a, mid, lo);
    if (a[hi] < a[lo]) swap(a, hi, lo);
    if (a[hi] < a[mid]) swap(a, hi, mid);
    const pivot = a[mid];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        swap(a, i, j);
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k];
  }
  return selectSmall(a, lo, hi, k);
}

/**
 * Selection in a short range, where the comparisons are as good as random (noise within a
 * bucket of a few samples) and any branch on them mispredicts half the time: Lomuto
 * partitions that swap every value and advance past it only if it is smaller, with no
 * branch on the data (~1.2x faster than insertion sort on buckets of ~10 values).
 */
function selectSmall(a: Float64Array, lo: number, hi: number, k: number): number {
  while (lo < hi) {
    // Median of three, as above, without the swaps.
    const x = a[lo];
    const z = a[hi];
    let pivot = a[(lo + hi) >>> 1];
    if (x < pivot !== x < z) pivot = x;
    else if (z < x !== z < pivot) pivot = z;
    // Afterwards a[lo..lt) < pivot <= a[lt..hi].
    let lt = lo;
    for (let j = lo; j <= hi; j++) {
      const v = a[j];
      a[j] = a[lt];
      a[lt] = v;
      lt += +(v < pivot);
    }
    if (k < lt) {
      hi = lt - 1;
      continue;
    }
    // The same for the values equal to the pivot (at least the pivot itself): a[lt..le).
    let le = lt;
    for (let j = lt; j <= hi; j++) {
      const v = a[j];
      a[j] = a[le];
      a[le] = v;
      le += +(v <= pivot);
    }
    if (k < le) return pivot;
    lo = le;
  }
  return a[k];
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}

/** Two slots to pick a maximum from by index, without a branch on the comparison. */
const pick = new Float64Array(2);

/** Median of `a[0..n-1]` (n > 0, no NaN); the mean of the two middle values when n is even. Reorders `a`. */
export function medianInPlace(a: Float64Array, n: number): number {
  const k = n >>> 1;
  const upper = selectKth(a, n, k);
  if (n & 1) return upper;
  // After selection every value left of k is <= a[k]: the lower middle is their maximum.
  const p = pick;
  let lower = a[0];
  for (let i = 1; i < k; i++) {
    const v = a[i];
    p[0] = lower;
    p[1] = v;
    lower = p[+(v > lower)];
  }
  return (lower + upper) / 2;
}
