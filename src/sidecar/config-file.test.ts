import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { loadConfigFile } from './config-file';

describe('loadConfigFile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'scadalive-cfg-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads YAML and returns the file dir as baseDir', async () => {
    const file = path.join(dir, 'ok.yaml');
    await writeFile(file, 'instances:\n  - id: a\n    plugin: csv\n    params: { file: data.csv }\n');
    const loaded = await loadConfigFile(file);
    expect(loaded.baseDir).toBe(dir);
    expect(loaded.data).toEqual({ instances: [{ id: 'a', plugin: 'csv', params: { file: 'data.csv' } }] });
  });

  it('treats an empty file as an empty mapping', async () => {
    const file = path.join(dir, 'empty.yaml');
    await writeFile(file, '# nothing yet\n');
    expect((await loadConfigFile(file)).data).toEqual({});
  });

  it('names the path of a missing file', async () => {
    const file = path.join(dir, 'nope.yaml');
    await expect(loadConfigFile(file)).rejects.toMatchObject({ code: 'BAD_REQUEST', message: `cannot read config file ${file}: file not found` });
  });

  it('gives the position of bad YAML and refuses duplicate keys', async () => {
    const bad = path.join(dir, 'bad.yaml');
    await writeFile(bad, 'instances: [a,\n');
    await expect(loadConfigFile(bad)).rejects.toMatchObject({ code: 'BAD_PARAMS', message: expect.stringMatching(/^bad YAML in config file .*bad\.yaml: .*line 2/) });

    const dup = path.join(dir, 'dup.yaml');
    await writeFile(dup, 'a: 1\na: 2\n');
    await expect(loadConfigFile(dup)).rejects.toMatchObject({ message: expect.stringContaining('Map keys must be unique at line 2') });
  });
});
