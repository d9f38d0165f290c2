/**
 * `npm start`'s two files agree: config/dev.yaml is a valid sidecar config whose model reads
 * exactly the registers config/modbus-sim.yaml serves (unit ids, tables, addresses,
 * encodings), and whose writable links are writable in the simulator. A drift between them
 * would show in `npm start` as bad qualities or wrong values, not as an error.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { parseSidecarConfig } from '../../src/sidecar/config';
import { parseSimConfig } from '../../src/sidecar/scada/drivers/modbus/sim-config';
import { REPO } from '../server/harness';

const read = (file: string): unknown => parse(readFileSync(path.join(REPO, file), 'utf8'));

const dev = parseSidecarConfig(read('config/dev.yaml'), path.join(REPO, 'config'));
const sim = parseSimConfig(read('config/modbus-sim.yaml'));
const model = dev.model!;

test('dev.yaml declares the model, the scada instance, memory by default and the config directory as baseDir', () => {
  expect(model.devices).toHaveLength(1);
  expect(dev.registry.instances.map((i) => `${i.id}:${i.plugin}`)).toEqual(['scada:scada', 'sim:simulator', 'csv:csv']);
  expect(dev.store.backend).toBe('auto');
  expect(dev.baseDir).toBe(path.join(REPO, 'config'));
  const device = model.devices[0];
  expect({ host: device.host, port: device.port }).toEqual({ host: sim.host, port: sim.port });
});

test('every link of dev.yaml reads a point of modbus-sim.yaml with the same encoding', () => {
  const terms = new Map(model.terms.map((t) => [t.id, t]));
  const linked = new Set<string>();
  for (const link of model.links) {
    const unitId = terms.get(link.termId)!.address;
    const unit = sim.units.find((u) => u.unitId === unitId);
    expect(unit).toBeDefined();
    const point = unit!.points.find((p) => p.table === link.table && p.address === link.address && p.bit === link.bit);
    if (!point)
      throw new Error(`link ${link.termId}:${link.itemId} (${link.table} ${link.address}) has no simulated point on unit ${unitId}`);
    const enc = (p: typeof link | typeof point) => ({
      dataType: p.dataType,
      byteOrder: p.byteOrder,
      scale: p.scale,
      offset: p.offset,
      length: p.length,
    });
    expect({ link: `${link.termId}:${link.itemId}`, ...enc(link) }).toEqual({ link: `${link.termId}:${link.itemId}`, ...enc(point) });
    // A link marked writable must be writable in the simulator (device_ctrl would get exception 2).
    if (link.writable) expect(`${point.name}:${point.behaviour.kind}`).toBe(`${point.name}:writable`);
    linked.add(`${unitId}/${point.name}`);
  }
  // And every simulated point is in the model.
  const served = sim.units.flatMap((u) => u.points.map((p) => `${u.unitId}/${p.name}`));
  expect([...linked].sort()).toEqual(served.sort());
});
