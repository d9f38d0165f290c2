/**
 * Request planning: the points of one unit and one table merged into the fewest read
 * requests, each at most `maxCount` long (125 registers / 2000 bits, or the device's own
 * limit) and reading through at most `maxGap` unused registers between points.
 *
 * Greedy is optimal here. Sort the spans by start. A request serves points wholly inside
 * it, so it may as well span exactly [first start, last end) of the points it serves. Let
 * the greedy request R start at the first unserved span s and take spans in order while
 * both limits hold; it stops at a span b that breaks one of them. Any span after b in sort
 * order could not have joined R either: it starts at or after b, so its gap to R is at least
 * b's, and if b broke the length limit (b.end > s.start + maxCount ≥ every end in R) the
 * later span is better placed with b, whose request starts later and already reaches further
 * right. So some optimal plan serves exactly R's spans in its first request, and induction
 * on the rest finishes the argument. test/modbus/planner.test.ts checks it against brute
 * force over every partition of small random maps.
 */
import { isBitTable, registerCount, type DataType, type Table } from './types';

export interface Span {
  /** First register (or bit) address. */
  start: number;
  /** Registers (or bits); 1..maxCount. */
  count: number;
}

export interface PlanLimits {
  /** Longest request. */
  maxCount: number;
  /** Longest run of unread-for-nobody registers inside a request. */
  maxGap: number;
}

export interface PlannedSpan {
  start: number;
  count: number;
  /** Indices into the input spans, served by this request. */
  members: number[];
}

/** Fewest requests covering every span; O(n log n). Spans longer than maxCount are an error. */
export function planSpans(spans: readonly Span[], limits: PlanLimits): PlannedSpan[] {
  const order = spans.map((_, i) => i).sort((a, b) => spans[a].start - spans[b].start || spans[a].count - spans[b].count);
  const out: PlannedSpan[] = [];
  let cur: PlannedSpan | undefined;
  let curEnd = 0;
  for (const i of order) {
    const { start, count } = spans[i];
    if (count < 1 || count > limits.maxCount)
      throw new RangeError(`span of ${count} at ${start} does not fit a request of ${limits.maxCount}`);
    const end = start + count;
    if (cur && start - curEnd <= limits.maxGap && Math.max(end, curEnd) - cur.start <= limits.maxCount) {
      cur.members.push(i);
      curEnd = Math.max(curEnd, end);
      cur.count = curEnd - cur.start;
      continue;
    }
    cur = { start, count, members: [i] };
    curEnd = end;
    out.push(cur);
  }
  return out;
}

/** Whether a set of spans can be one request (brute-force reference for the tests). */
export function feasibleGroup(spans: readonly Span[], limits: PlanLimits): boolean {
  if (spans.length === 0) return true;
  const sorted = [...spans].sort((a, b) => a.start - b.start);
  let end = sorted[0].start + sorted[0].count;
  for (const s of sorted.slice(1)) {
    if (s.start - end > limits.maxGap) return false;
    end = Math.max(end, s.start + s.count);
  }
  return end - sorted[0].start <= limits.maxCount;
}

/** What planning needs of a point. */
export interface PlannablePoint {
  unitId: number;
  table: Table;
  address: number;
  dataType: DataType;
  length?: number;
}

export interface ReadRequest {
  unitId: number;
  table: Table;
  start: number;
  count: number;
  /** Indices into the planned points. */
  points: number[];
}

export interface DeviceLimits {
  maxRegisters: number;
  maxBits: number;
  maxGap: number;
}

/** Requests for a set of points: per unit and table, the greedy plan above. */
export function planReads(points: readonly PlannablePoint[], limits: DeviceLimits): ReadRequest[] {
  const groups = new Map<string, number[]>();
  points.forEach((p, i) => {
    const key = `${p.unitId}/${p.table}`;
    const g = groups.get(key);
    if (g) g.push(i);
    else groups.set(key, [i]);
  });
  const out: ReadRequest[] = [];
  for (const idx of groups.values()) {
    const { unitId, table } = points[idx[0]];
    const spans = idx.map((i) => ({ start: points[i].address, count: registerCount(points[i].dataType, points[i].length) }));
    const maxCount = isBitTable(table) ? limits.maxBits : limits.maxRegisters;
    for (const r of planSpans(spans, { maxCount, maxGap: limits.maxGap })) {
      out.push({ unitId, table, start: r.start, count: r.count, points: r.members.map((m) => idx[m]) });
    }
  }
  return out;
}
