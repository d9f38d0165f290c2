/** `npm run bench`: runs every benchmark and prints its figures; exits 1 if a target is missed. */
import { runLiveBench } from './live.bench';
import { runModbusBench } from './modbus.bench';
import { runQueryBench } from './query.bench';
import { runResampleBench } from './resample.bench';
import { runStoreBench } from './store.bench';

const benches: Record<string, () => boolean | Promise<boolean>> = {
  resample: runResampleBench,
  live: runLiveBench,
  query: runQueryBench,
  store: runStoreBench,
  modbus: runModbusBench,
};

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  let ok = true;
  for (const [name, run] of Object.entries(benches)) {
    if (only.length > 0 && !only.includes(name)) continue;
    ok = (await run()) && ok;
  }
  console.log(ok ? '\nall targets met' : '\nsome targets missed');
  process.exitCode = ok ? 0 : 1;
}

void main();
