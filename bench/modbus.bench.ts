/**
 * Modbus benchmarks: registers per second polled from the simulator over loopback with 1
 * and 8 requests in flight, and requests per poll cycle the planner makes of a 1,000-item
 * map. Target: ≥ 100 k registers/s (with 8 in flight).
 *
 * The simulator runs in this process, so poller and device share one event loop: the
 * figures are a floor for a poller talking to a real device.
 */
import { performance } from 'node:perf_hooks';
import { planReads, type PlannablePoint } from '../src/sidecar/scada/drivers/modbus/planner';
import { ModbusPoller } from '../src/sidecar/scada/drivers/modbus/poller';
import { startModbusSimulator } from '../src/sidecar/scada/drivers/modbus/simulator';
import { registerCount, type DataType, type ModbusPointInput, type Table } from '../src/sidecar/scada/drivers/modbus/types';
import { fmtRate, printTable, rng } from './util';

const TARGET_REGISTERS_PER_S = 100_000;
const MEASURE_MS = 3000;

/** 1,000 uint16 points back to back: 8 requests of up to 125 registers per cycle. */
const REGISTERS = 1000;

async function pollRate(maxInFlight: number, port: number): Promise<{ perSecond: number; cycles: number; requestsPerCycle: number }> {
  const points: ModbusPointInput[] = Array.from({ length: REGISTERS }, (_, i) => ({
    id: `r${i}`,
    unitId: 1,
    table: 'holding',
    address: i,
    dataType: 'uint16',
  }));
  const poller = new ModbusPoller(
    // A 1 ms interval: the poller runs cycles back to back, as fast as the device answers.
    {
      device: { id: 'bench', host: '127.0.0.1', port, pollIntervalMs: 1, timeoutMs: 2000, maxInFlight },
      units: [{ id: 'u', unitId: 1 }],
      points,
    },
    { onSamples: () => undefined },
  );
  poller.start();
  try {
    const deadline = Date.now() + 5000;
    while (poller.health().cycles < 5) {
      if (Date.now() > deadline) throw new Error('the poller did not start polling');
      await new Promise((r) => setTimeout(r, 10));
    }
    const h0 = poller.health();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, MEASURE_MS));
    const h1 = poller.health();
    const seconds = (performance.now() - t0) / 1000;
    if (poller.latest().some((l) => l.quality !== 'good')) throw new Error('some points were not good');
    return {
      perSecond: (h1.registersRead - h0.registersRead) / seconds,
      cycles: (h1.cycles - h0.cycles) / seconds,
      requestsPerCycle: h1.requestsPerCycle,
    };
  } finally {
    await poller.stop();
  }
}

/**
 * A plausible 1,000-item map: 4 units; per unit blocks of related points (a pump's float
 * measurements, its status word bits, counters, names, coils), small holes between points
 * and large jumps between blocks, as device manuals lay them out.
 */
function itemMap(): PlannablePoint[] {
  const random = rng(20240501);
  const kinds: Array<[DataType, Table, number]> = [
    ['float32', 'holding', 0.3],
    ['uint16', 'holding', 0.2],
    ['int32', 'input', 0.1],
    ['float32', 'input', 0.15],
    ['bool', 'coil', 0.1],
    ['bool', 'discrete', 0.08],
    ['string', 'holding', 0.02],
    ['bit', 'holding', 0.05],
  ];
  const next = new Map<string, number>();
  const out: PlannablePoint[] = [];
  while (out.length < 1000) {
    const unitId = 1 + Math.floor(random() * 4);
    let r = random();
    const kind = kinds.find(([, , p]) => (r -= p) < 0) ?? kinds[0];
    const [dataType, table] = kind;
    const key = `${unitId}/${table}`;
    let address = next.get(key) ?? 0;
    const gap = random();
    address +=
      gap < 0.6
        ? 0
        : gap < 0.85
          ? 1 + Math.floor(random() * 3)
          : gap < 0.97
            ? 4 + Math.floor(random() * 12)
            : 100 + Math.floor(random() * 400);
    const length = dataType === 'string' ? 8 : undefined;
    out.push({ unitId, table, address, dataType, length });
    next.set(key, address + registerCount(dataType, length));
  }
  return out;
}

function planFigures(): Array<Array<string | number>> {
  const map = itemMap();
  const used = new Set(
    map.flatMap((p) => Array.from({ length: registerCount(p.dataType, p.length) }, (_, i) => `${p.unitId}/${p.table}/${p.address + i}`)),
  ).size;
  const rows: Array<Array<string | number>> = [['one request per item', map.length, used, 0]];
  for (const maxGap of [0, 4, 16, 64]) {
    const reads = planReads(map, { maxRegisters: 125, maxBits: 2000, maxGap });
    const read = reads.reduce((n, r) => n + r.count, 0);
    rows.push([`planner, maxGap ${maxGap}`, reads.length, read, read - used]);
  }
  return rows;
}

export async function runModbusBench(): Promise<boolean> {
  const sim = await startModbusSimulator({
    port: 0,
    units: [
      {
        unitId: 1,
        points: Array.from({ length: REGISTERS }, (_, i) => ({
          name: `r${i}`,
          table: 'holding' as const,
          address: i,
          dataType: 'uint16' as const,
          behaviour: { kind: 'static' as const, value: i },
        })),
      },
    ],
  });
  let ok = true;
  try {
    const rows: Array<Array<string | number>> = [];
    for (const inFlight of [1, 8]) {
      const r = await pollRate(inFlight, sim.port);
      const met = inFlight === 1 || r.perSecond >= TARGET_REGISTERS_PER_S;
      ok = ok && met;
      rows.push([
        `${inFlight} in flight`,
        fmtRate(r.perSecond),
        r.cycles.toFixed(0),
        r.requestsPerCycle,
        inFlight === 1 ? '' : met ? `≥ ${fmtRate(TARGET_REGISTERS_PER_S)} ok` : `< ${fmtRate(TARGET_REGISTERS_PER_S)} MISSED`,
      ]);
    }
    printTable(
      `Modbus polling over loopback (${REGISTERS} registers per cycle, simulator in process)`,
      ['', 'registers', 'cycles/s', 'req/cycle', 'target'],
      rows,
    );
  } finally {
    await sim.close();
  }
  printTable(
    'Modbus requests per cycle for a 1,000-item map (4 units, mixed types)',
    ['plan', 'requests', 'registers read', 'read unused'],
    planFigures(),
  );
  return ok;
}

// `npx tsx bench/modbus.bench.ts` runs it alone.
if (require.main === module) {
  void runModbusBench().then((ok) => {
    process.exitCode = ok ? 0 : 1;
  });
}
