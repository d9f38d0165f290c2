/** A small plant for model and REST tests: two Modbus devices, terms, items and links. */
import pino from 'pino';
import { ModelService, type ModelServiceOptions } from '../../../src/sidecar/scada/model/service';
import { createStore, type ModelEvent, type Store } from '../../../src/sidecar/store';

export const silent = pino({ level: 'silent' });

export async function memoryStore(): Promise<Store> {
  return createStore({ backend: 'memory' }, { logger: silent, env: {} });
}

export const DEVICE = { id: 'plc1', name: 'PLC 1', protocol: 'modbus_tcp', host: '127.0.0.1', port: 1502 } as const;
export const DEVICE2 = { id: 'plc2', name: 'PLC 2', protocol: 'modbus_tcp', host: '127.0.0.2' } as const;
export const TERM = { id: 'unit1', name: 'Unit 1', deviceId: 'plc1', address: 1 } as const;
export const TERM2 = { id: 'unit2', name: 'Unit 2', deviceId: 'plc1', address: 2 } as const;
export const TERM3 = { id: 'unit3', name: 'Unit 3 on PLC 2', deviceId: 'plc2', address: 1 } as const;
export const ITEM = { id: 'temp', name: 'Temperature', unit: 'degC' } as const;
export const ITEM2 = { id: 'pressure', name: 'Pressure', unit: 'bar' } as const;
export const ITEM3 = { id: 'pump', name: 'Pump running' } as const;
/** temp: float32 in holding registers 10-11. */
export const LINK = { termId: 'unit1', itemId: 'temp', table: 'holding', address: 10, dataType: 'float32', scale: 1 } as const;
/** pressure: uint16 in holding register 12, scaled. */
export const LINK2 = {
  termId: 'unit1',
  itemId: 'pressure',
  table: 'holding',
  address: 12,
  dataType: 'uint16',
  scale: 0.1,
  writable: true,
} as const;
/** pump: a coil. */
export const LINK3 = { termId: 'unit1', itemId: 'pump', table: 'coil', address: 0, dataType: 'bool', writable: true } as const;

/** plc1/unit1 with temp, pressure and pump; plc1/unit2 with temp; plc2/unit3 with temp. */
export async function seedPlant(service: ModelService): Promise<void> {
  await service.createDevice(DEVICE);
  await service.createDevice(DEVICE2);
  await service.createTerm(TERM);
  await service.createTerm(TERM2);
  await service.createTerm(TERM3);
  await service.createItem(ITEM);
  await service.createItem(ITEM2);
  await service.createItem(ITEM3);
  await service.createLink(LINK);
  await service.createLink(LINK2);
  await service.createLink(LINK3);
  await service.createLink({ ...LINK, termId: 'unit2' });
  await service.createLink({ ...LINK, termId: 'unit3' });
}

export function makeService(store: Store, options: ModelServiceOptions = {}): ModelService {
  return new ModelService(store, { logger: silent, ...options });
}

/** Records every model event batch published on the store's bus. */
export function recordEvents(store: Store): ModelEvent[][] {
  const batches: ModelEvent[][] = [];
  store.subscribeModelEvents((events) => batches.push(events));
  return batches;
}

/** Everything the model holds, raw from the store, plus the revision: to prove nothing changed. */
export async function modelState(store: Store): Promise<{ revision: number; objects: Record<string, Array<[string, unknown]>> }> {
  const objects: Record<string, Array<[string, unknown]>> = {};
  for (const kind of ['device', 'term', 'item', 'link'] as const) {
    objects[kind] = [...(await store.listObjects(kind))].sort(([a], [b]) => (a < b ? -1 : 1));
  }
  return { revision: await store.modelRevision(), objects };
}
