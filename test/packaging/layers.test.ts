/**
 * The layering rule of eslint.config.mjs, checked with the eslint CLI itself (`npm run lint`
 * checks the tree): an import that points up the layers of DESIGN.md is an error naming the
 * layer, one that points down is not.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';

const REPO = path.resolve(__dirname, '../..');
const ESLINT = path.join(REPO, 'node_modules/eslint/bin/eslint.js');

/** The no-restricted-imports messages eslint gives `code` as if it were `file`. */
function lint(file: string, code: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [ESLINT, '--format', 'json', '--stdin', '--stdin-filename', file], { cwd: REPO }, (err, stdout) => {
      // eslint exits 1 when it found errors: that is an answer, not a failure.
      if (err && (err as { code?: unknown }).code !== 1) return reject(err);
      const [result] = JSON.parse(stdout) as Array<{ messages: Array<{ ruleId: string | null; message: string }> }>;
      resolve(result.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message));
    });
    child.stdin!.end(code);
  });
}

it.each([
  ['src/sidecar/store/bad.ts', "import { handleQuery } from '../handlers/query';\nexport const x = handleQuery;\n", /store may not import/],
  ['src/sidecar/store/bad.ts', "import type { DeviceManager } from '../scada/manager';\nexport type X = DeviceManager;\n", /store may not import/],
  ['src/sidecar/scada/manager/bad.ts', "import { Registry } from '../../registry/registry';\nexport const x = Registry;\n", /scada may not import/],
  ['src/sidecar/registry/bad.ts', "import { startSidecar } from '../server/server';\nexport const x = startSidecar;\n", /registry may not import/],
  ['src/sidecar/timeseries/bad.ts', "import type { Store } from '../store/types';\nexport type X = Store;\n", /timeseries may not import/],
  ['src/sidecar/core/bad.ts', "import { resample } from '../timeseries/resample';\nexport const x = resample;\n", /core may not import/],
  ['src/frontend/bad.ts', "import { AppError } from '../sidecar/errors';\nexport const x = AppError;\n", /frontend may not import/],
])('%s importing upwards is an error', async (file, code, message) => {
  expect(await lint(file, code)).toEqual([expect.stringMatching(message)]);
});

it.each([
  ['src/sidecar/server/ok.ts', "import { handleQuery } from '../handlers/query';\nexport const x = handleQuery;\n"],
  ['src/sidecar/store/ok.ts', "import { resample } from '../timeseries/resample';\nimport type { HealthProbe } from '../core/health';\nexport const x = resample;\nexport type H = HealthProbe;\n"],
  ['src/sidecar/scada/manager/ok.ts', "import type { Store } from '../../store/types';\nexport type X = Store;\n"],
])('%s importing downwards is fine', async (file, code) => {
  expect(await lint(file, code)).toEqual([]);
});
