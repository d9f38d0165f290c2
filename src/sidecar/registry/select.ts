/**
 * In-place selection on a Float64Array range, for the median reducer: O(n) on average,
 * with no allocation, so a bucket's median costs about as much as reading it.
 */

/** Sorts `a[lo..hi]` (inclusive) by insertion: fastest for the short runs of small buckets. */
function insertionSort(a: Float64Array, lo: number, hi: number): void {
  for (let i = lo + 1; i <= hi; i++) {
    const v = a[i];
    let j = i - 1;
    while (j >= lo && a[j] > v) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = v;
  }
}

/**
 * Rearranges `a[0..n-1]` so that `a[k]` holds the k-th smallest value, every value before it
 * is <= a[k] and every value after it is >= a[k] (Hoare partition around a median of three).
 */
export function selectKth(a: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 16) {
    const mid = (lo + hi) >>> 1;
    // Median of three as the pivot keeps sorted and reversed buckets linear.
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
  insertionSort(a, lo, hi);
  return a[k];
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}

/** Median of `a[0..n-1]` (n > 0, no NaN); the mean of the two middle values when n is even. Reorders `a`. */
export function medianInPlace(a: Float64Array, n: number): number {
  const k = n >>> 1;
  const upper = selectKth(a, n, k);
  if (n & 1) return upper;
  // After selection every value left of k is <= a[k]: the lower middle is their maximum.
  let lower = a[0];
  for (let i = 1; i < k; i++) if (a[i] > lower) lower = a[i];
  return (lower + upper) / 2;
}
