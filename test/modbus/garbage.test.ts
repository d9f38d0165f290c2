/**
 * A device that sends nonsense: short, long, mislabelled and unframed answers never crash
 * the poller; the points of the request go bad (or comm_lost when nothing parsable comes
 * back) and polling goes on. Also the client's guarantees: no hanging promise when the
 * connection dies, and no reuse of a transaction id a late answer could still claim.
 */
import { backoffDelay, ModbusConnection } from '../../src/sidecar/scada/drivers/modbus/connection';
import { ModbusPoller } from '../../src/sidecar/scada/drivers/modbus/poller';
import { ModbusRequestError } from '../../src/sidecar/scada/drivers/modbus/request-error';
import { Collector, waitFor } from './helpers';
import { exceptionAnswer, frame, registersAnswer, startRawDevice, type RawDevice, type RawRequest, type Responder } from './raw-device';

/** Correct answers: register n holds 1000 + n; coil n is on for odd n. */
const good: Responder = (req) => {
  if (req.fc === 3 || req.fc === 4)
    return registersAnswer(
      req,
      Array.from({ length: req.count }, (_, i) => 1000 + req.address + i),
    );
  if (req.fc === 1 || req.fc === 2) {
    const bytes = Buffer.alloc(Math.ceil(req.count / 8));
    for (let i = 0; i < req.count; i++) if ((req.address + i) % 2 === 1) bytes[i >> 3] |= 1 << (i & 7);
    return frame(req.tid, req.unitId, Buffer.concat([Buffer.from([req.fc, bytes.length]), bytes]));
  }
  return exceptionAnswer(req, 1);
};

const onlyRegisters =
  (bad: (req: RawRequest) => Buffer | null): Responder =>
  (req) =>
    req.fc === 3 ? bad(req) : good(req);

const MALFORMED: Array<[string, 'bad' | 'comm_lost', Responder]> = [
  ['no registers at all', 'bad', onlyRegisters((req) => registersAnswer(req, [], { byteCount: 0 }))],
  ['byte count claims more than sent', 'bad', onlyRegisters((req) => registersAnswer(req, [1, 2], { byteCount: 8 }))],
  ['byte count one register too many', 'bad', onlyRegisters((req) => registersAnswer(req, [1, 2], { byteCount: 6 }))],
  ['more registers than asked', 'bad', onlyRegisters((req) => registersAnswer(req, [1, 2, 3, 4, 5]))],
  ['wrong function code', 'bad', onlyRegisters((req) => registersAnswer(req, [1, 2], { fc: 4 }))],
  ['wrong unit id', 'bad', onlyRegisters((req) => registersAnswer(req, [1, 2], { unitId: 9 }))],
  ['unknown exception code', 'bad', onlyRegisters((req) => exceptionAnswer(req, 99))],
  ['MBAP length 1 (unit id only)', 'bad', onlyRegisters((req) => frame(req.tid, req.unitId, Buffer.alloc(0)))],
  // A bare header never completes a frame for modbus-serial: no answer at all, as far as it knows.
  ['MBAP length 0', 'comm_lost', onlyRegisters((req) => frame(req.tid, req.unitId, Buffer.alloc(0), 0).subarray(0, 6))],
  ['bits: byte count too small', 'bad', (req) => (req.fc === 1 ? frame(req.tid, req.unitId, Buffer.from([1, 0])) : good(req))],
];

describe('garbage from a device', () => {
  let dev: RawDevice;
  let poller: ModbusPoller;
  const collector = new Collector();

  beforeAll(async () => {
    dev = await startRawDevice(good);
    poller = new ModbusPoller(
      {
        device: {
          id: 'junk',
          host: '127.0.0.1',
          port: dev.port,
          pollIntervalMs: 30,
          timeoutMs: 150,
          backoff: { initialMs: 30, maxMs: 200 },
        },
        units: [{ id: 't', unitId: 1 }],
        points: [
          { id: 'r0', unitId: 1, table: 'holding', address: 0, dataType: 'uint16' },
          { id: 'r1', unitId: 1, table: 'holding', address: 1, dataType: 'uint16' },
          { id: 'c3', unitId: 1, table: 'coil', address: 3, dataType: 'bool' },
        ],
      },
      { onSamples: collector.onSamples },
    );
    poller.start();
    await waitFor('good', () => poller.latest('r1')?.quality === 'good' && poller.latest('c3')?.quality === 'good');
  });

  afterAll(async () => {
    await poller.stop();
    await dev.close();
  });

  it.each(MALFORMED)('%s → %s, then good again once the device behaves', async (name, quality, responder) => {
    const id = name.startsWith('bits') ? 'c3' : 'r1';
    dev.setResponder(responder);
    await waitFor(quality, () => poller.latest(id)?.quality === quality);
    if (quality === 'bad') expect(poller.latest(id === 'c3' ? 'r1' : 'c3')?.quality).toBe('good'); // the other request is fine
    dev.setResponder(good);
    await waitFor('good', () => poller.latest('r1')?.quality === 'good' && poller.latest('c3')?.quality === 'good', 5000);
    expect(poller.latest('r1')).toMatchObject({ value: 1001, quality: 'good' });
    expect(poller.latest('c3')).toMatchObject({ value: 1, quality: 'good' });
  });

  it('unframed bytes: requests time out, the connection is reset, polling recovers', async () => {
    const connectsBefore = poller.health().connection.stats.connects;
    // "GARBAGE…" read as an MBAP header claims a 0x4147-byte frame that never completes.
    dev.setResponder((req) => (req.fc === 3 ? Buffer.from('GARBAGE GARBAGE GARBAGE') : good(req)));
    await waitFor('comm_lost', () => poller.latest('r1')?.quality === 'comm_lost', 5000);
    dev.setResponder(good);
    await waitFor('good again', () => poller.latest('r1')?.quality === 'good' && poller.latest('c3')?.quality === 'good', 5000);
    expect(poller.health().connection.stats.connects).toBeGreaterThan(connectsBefore);
  });

  it('counted what went wrong', () => {
    const stats = poller.health().connection.stats;
    expect(stats.protocolErrors).toBeGreaterThan(0);
    expect(stats.exceptions).toBeGreaterThan(0); // the unknown exception code 99 still is one
    expect(stats.timeouts).toBeGreaterThan(0);
  });
});

describe('client guarantees', () => {
  it('backoff doubles from initialMs up to maxMs, jittered into [d/2, d], never above the cap', () => {
    const b = { initialMs: 100, maxMs: 1000 };
    expect([1, 2, 3, 4, 5, 50].map((n) => backoffDelay(n, b, () => 0))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect([1, 2, 3, 4, 5, 50].map((n) => backoffDelay(n, b, () => 0.999999))).toEqual([50, 100, 200, 400, 500, 500]);
  });

  it('a request pending when the connection dies fails at once, it does not hang until its timeout', async () => {
    const dev = await startRawDevice(() => null); // never answers
    const conn = new ModbusConnection({
      host: '127.0.0.1',
      port: dev.port,
      timeoutMs: 20_000,
      maxInFlight: 4,
      backoff: { initialMs: 10_000, maxMs: 10_000 },
      resetAfterTimeouts: 3,
    });
    try {
      conn.start();
      await waitFor('connected', () => conn.state === 'connected');
      const pending = [0, 1, 2, 3, 4, 5].map((i) =>
        conn.request((c, t) => c.readRegisters(1, 3, i, 1, t)).catch((e: ModbusRequestError) => e),
      );
      await waitFor('requests sent', () => dev.requests.length === 4); // four in flight, two queued
      await dev.close(); // drops the socket
      // Every request settles (a hang would fail the test at its timeout), none waits for its own timer.
      const errors = await Promise.all(pending);
      for (const e of errors) expect(e).toMatchObject({ kind: 'connection' });
      expect(conn.state).toBe('backoff');
    } finally {
      await conn.close();
    }
  });

  it('a transaction id that timed out is not reused while a late answer could still claim it', async () => {
    let swallowed: RawRequest | undefined;
    const dev = await startRawDevice((req) => {
      if (!swallowed) {
        swallowed = req; // the first request is never answered …
        return null;
      }
      // … and its late answer (with a bogus value) arrives just before every later answer.
      const late = registersAnswer(swallowed, [0xdead]);
      return Buffer.concat([late, registersAnswer(req, [req.address])]);
    });
    const conn = new ModbusConnection({
      host: '127.0.0.1',
      port: dev.port,
      timeoutMs: 1000,
      maxInFlight: 1,
      backoff: { initialMs: 50, maxMs: 50 },
      resetAfterTimeouts: 3,
    });
    try {
      conn.start();
      await waitFor('connected', () => conn.state === 'connected');
      await expect(conn.request((c, t) => c.readRegisters(1, 3, 7, 1, t))).rejects.toMatchObject({ kind: 'timeout' });
      // 300 requests: more than the 256 transaction ids, so without the quarantine one of
      // them would carry the swallowed id and take 0xdead for its answer.
      for (let i = 0; i < 300; i++) {
        const [v] = await conn.request((c, t) => c.readRegisters(1, 3, i, 1, t));
        expect(v).toBe(i);
      }
      const later = dev.requests.slice(1).map((r) => r.tid);
      expect(later).toHaveLength(300);
      expect(later).not.toContain(swallowed!.tid);
    } finally {
      await conn.close();
      await dev.close();
    }
  });
});
