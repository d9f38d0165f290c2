/**
 * Referential and address rules of the model, checked on the model as it would be after a
 * write (`next`), for the objects that write puts. Pure functions: the service collects a
 * write's puts and deletes, applies them to a copy, calls `checkIntegrity`, and only then
 * writes — so a rejected write leaves nothing behind.
 *
 * Rules:
 * - a term's device exists; its address is valid for the device's protocol
 *   (TERM_PROTOCOLS min/maxAddress) and unique among the device's terms;
 * - a link's term and item exist, and its encoding fits the term's device protocol;
 * - a Modbus link's address range [address, address + registers) must not overlap another
 *   link of the same term and table, unless the two ranges are identical (several bits of
 *   one register, or one value read raw and scaled, are legitimate). A partial overlap is
 *   nearly always a typo (an int32 one register off) that would silently decode garbage, so
 *   it is rejected by default; `overlap: 'warn'` only logs it.
 * - putting a device (protocol change) or a term (moved to another device) re-checks what
 *   hangs under it.
 */
import { AppError } from '../../errors';
import { isBitTable, registerCount, type Table } from '../drivers/modbus/types';
import { linkId, linkProtocol, TERM_PROTOCOLS, type Device, type Item, type Link, type Term } from './schemas';

export interface KindTypes {
  device: Device;
  term: Term;
  item: Item;
  link: Link;
}
export type Kind = keyof KindTypes;

/** The whole model by kind; links keyed by `linkId(termId, itemId)`. */
export type ModelMaps = { [K in Kind]: Map<string, KindTypes[K]> };

/** One object a write puts, with the field prefix its errors are named under ('' or e.g. `links.3`). */
export type Put = { [K in Kind]: { kind: K; id: string; value: KindTypes[K]; field: string } }[Kind];

export type OverlapMode = 'reject' | 'warn';

export function fieldOf(prefix: string, name: string): string {
  return prefix ? `${prefix}.${name}` : name;
}

function bad(prefix: string, name: string, message: string): AppError {
  const field = fieldOf(prefix, name);
  return new AppError('BAD_REQUEST', `${field}: ${message}`, field);
}

/** Throws the first violation as a 400 naming the field; returns warnings (tolerated overlaps). */
export function checkIntegrity(next: ModelMaps, puts: readonly Put[], overlap: OverlapMode = 'reject'): string[] {
  const termsByDevice = groupBy(next.term.values(), (t) => t.deviceId);
  const linksByTerm = groupBy(next.link.values(), (l) => l.termId);
  const warnings: string[] = [];

  for (const p of puts) {
    if (p.kind === 'device') {
      for (const t of termsByDevice.get(p.id) ?? []) {
        const why = addressProblem(t, p.value);
        if (why) throw bad(p.field, 'protocol', `term "${t.id}" of this device: ${why}`);
        for (const l of linksByTerm.get(t.id) ?? []) {
          if (linkProtocol(l) !== p.value.protocol)
            throw bad(p.field, 'protocol', `link ${linkId(l.termId, l.itemId)} has a ${linkProtocol(l)} encoding`);
        }
      }
    } else if (p.kind === 'term') {
      const t = p.value;
      const device = next.device.get(t.deviceId);
      if (!device) throw bad(p.field, 'deviceId', `device "${t.deviceId}" does not exist`);
      const why = addressProblem(t, device);
      if (why) throw bad(p.field, 'address', why);
      const other = (termsByDevice.get(t.deviceId) ?? []).find((o) => o.id !== t.id && o.address === t.address);
      if (other)
        throw bad(
          p.field,
          'address',
          `${TERM_PROTOCOLS[device.protocol].name} address ${t.address} is already used by term "${other.id}" of device "${device.id}"`,
        );
      for (const l of linksByTerm.get(t.id) ?? []) {
        if (linkProtocol(l) !== device.protocol)
          throw bad(
            p.field,
            'deviceId',
            `link ${linkId(l.termId, l.itemId)} of this term has a ${linkProtocol(l)} encoding, device "${device.id}" speaks ${device.protocol}`,
          );
      }
    } else if (p.kind === 'link') {
      const l = p.value;
      const term = next.term.get(l.termId);
      if (!term) throw bad(p.field, 'termId', `term "${l.termId}" does not exist`);
      if (!next.item.has(l.itemId)) throw bad(p.field, 'itemId', `item "${l.itemId}" does not exist`);
      const device = next.device.get(term.deviceId);
      if (device && linkProtocol(l) !== device.protocol)
        throw bad(p.field, 'table', `a ${linkProtocol(l)} encoding on term "${term.id}" of ${device.protocol} device "${device.id}"`);
    }
  }

  // Overlaps: only the terms this write puts links on (or re-homes), against their whole next state.
  const putLinks = new Map<string, Put & { kind: 'link' }>();
  for (const p of puts) if (p.kind === 'link') putLinks.set(p.id, p);
  if (putLinks.size === 0) return warnings;
  const terms = new Set([...putLinks.values()].map((p) => p.value.termId));
  for (const termId of terms) {
    for (const [a, b] of overlappingPairs(linksByTerm.get(termId) ?? [])) {
      const pa = putLinks.get(linkId(a.termId, a.itemId));
      const pb = putLinks.get(linkId(b.termId, b.itemId));
      if (!pa && !pb) continue; // an old overlap (kept in warn mode) does not block unrelated writes
      // Name the put that comes later in the request: the earlier one is what it collides with.
      const [p, other] = pa && pb ? (puts.indexOf(pa) > puts.indexOf(pb) ? [pa, a] : [pb, b]) : pa ? [pa, b] : [pb!, a];
      const message = `${describeRange(p.value as Link)} overlaps ${describeRange(other)} of link ${linkId(other.termId, other.itemId)}`;
      if (overlap === 'reject') throw bad(p.field, 'address', message);
      warnings.push(`link ${p.id}: ${message}`);
    }
  }
  return warnings;
}

/** Why a term's address does not fit its device's protocol, or undefined. */
export function addressProblem(term: Term, device: Device): string | undefined {
  const proto = TERM_PROTOCOLS[device.protocol];
  if (term.address < proto.minAddress || term.address > proto.maxAddress)
    return `${term.address} is not a valid ${proto.name} address for device "${device.id}": ${proto.address}`;
  return undefined;
}

interface Range {
  link: Link;
  table: Table;
  start: number;
  end: number;
}

export function linkRange(link: Link): Range {
  return { link, table: link.table, start: link.address, end: link.address + registerCount(link.dataType, link.length) };
}

function describeRange(link: Link): string {
  const r = linkRange(link);
  const unit = isBitTable(r.table) ? 'bit' : 'register';
  return r.end - r.start === 1 ? `${r.table} ${unit} ${r.start}` : `${r.table} ${unit}s ${r.start}-${r.end - 1}`;
}

/**
 * Every pair of links (same table) whose ranges overlap without being identical. A sweep
 * over ranges sorted by start keeps the still-open ones: O(n log n + n × overlap depth).
 */
export function overlappingPairs(links: readonly Link[]): Array<[Link, Link]> {
  const out: Array<[Link, Link]> = [];
  const byTable = groupBy(links.map(linkRange), (r) => r.table);
  for (const ranges of byTable.values()) {
    ranges.sort((a, b) => a.start - b.start || a.end - b.end);
    let open: Range[] = [];
    for (const r of ranges) {
      open = open.filter((o) => o.end > r.start);
      for (const o of open) if (o.start !== r.start || o.end !== r.end) out.push([o.link, r.link]);
      open.push(r);
    }
  }
  return out;
}

function groupBy<T>(values: Iterable<T>, key: (v: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const v of values) {
    const k = key(v);
    const list = out.get(k);
    if (list) list.push(v);
    else out.set(k, [v]);
  }
  return out;
}
