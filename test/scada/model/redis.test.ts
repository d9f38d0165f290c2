/**
 * The service on the Redis store: the same atomic cascade, events reaching another sidecar
 * through Redis pub/sub, and optimistic concurrency between two sidecars.
 */
import { makeBackend, eventually, type Backend } from '../../store/backends';
import type { ModelEvent, Store } from '../../../src/sidecar/store';
import { makeService, seedPlant, TERM, TERM2, DEVICE } from './fixtures';

let backend: Backend;
let store: Store;
let peer: Store;

beforeAll(async () => {
  backend = await makeBackend('redis');
}, 60_000);
afterAll(async () => {
  await backend?.stop();
});
beforeEach(async () => {
  store = await backend.make();
  peer = await backend.make({}, store); // a second sidecar on the same keys
});

test('cascade delete is one write; another sidecar hears all of it', async () => {
  const service = makeService(store);
  await seedPlant(service);
  const heard: ModelEvent[][] = [];
  peer.subscribeModelEvents((events) => heard.push(events));
  const before = await store.modelRevision();
  const summary = await service.deleteDevice('plc1');
  expect(summary.links).toEqual(['unit1:pressure', 'unit1:pump', 'unit1:temp', 'unit2:temp']);
  expect(await store.modelRevision()).toBe(before + 1);
  await eventually(() => heard.length > 0, 5000, 'model events over Redis');
  expect(heard).toHaveLength(1);
  expect(heard[0]).toHaveLength(7);
  expect(heard[0]).toContainEqual({ kind: 'device', op: 'delete', id: 'plc1' });
  // The peer reads the result through its own connection.
  const other = makeService(peer);
  expect((await other.listTerms()).map((t) => t.id)).toEqual(['unit3']);
  expect((await other.listLinks()).map((l) => l.id)).toEqual(['unit3:temp']);
});

test('two sidecars racing for one unit id: one wins', async () => {
  const a = makeService(store);
  const b = makeService(peer);
  await a.createDevice(DEVICE);
  const results = await Promise.allSettled([a.createTerm(TERM), b.createTerm({ ...TERM2, address: TERM.address })]);
  expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  expect(results.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'BAD_REQUEST', field: 'address' } });
  expect(await a.listTerms()).toHaveLength(1);
});

test('loadFromConfig is idempotent on Redis too', async () => {
  const model = { devices: [DEVICE], terms: [TERM] };
  expect((await makeService(store).loadFromConfig(model)).written).toBe(2);
  const rev = await store.modelRevision();
  expect(await makeService(peer).loadFromConfig(model)).toEqual({ written: 0, revision: rev });
});
