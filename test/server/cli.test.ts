/** The CLI as users run it (`tsx src/sidecar/main.ts serve …`, what `npm start` does), in a child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import ModbusRTU from 'modbus-serial';
import { parse, stringify } from 'yaml';
import { freePort } from '../helpers/redis-server';
import { REPO } from './harness';

const TSX = path.join(REPO, 'node_modules', '.bin', 'tsx');
const MAIN = path.join(REPO, 'src', 'sidecar', 'main.ts');
const DEV_KEY = 'dev-key-change-me-0000';
const env = { ...process.env, SCADALIVE_API_KEYS: '', SCADALIVE_CONTROL_KEYS: '' };

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

function run(args: string[]): Run {
  const child = spawn(TSX, [MAIN, ...args], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exit };
}

function tempConfig(text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'scadalive-cli-'));
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, text);
  return file;
}

/** stderr without Node's own warnings (deprecations of dependencies). */
const ownLines = (text: string): string[] =>
  text.split('\n').filter((l) => l.trim() !== '' && !/^\(node:\d+\)|--trace-warnings|^npm warn/.test(l));

describe('scadalive serve', () => {
  it.each([
    [
      'a missing config file',
      ['serve', '--config', '/nonexistent/scadalive.yaml'],
      /^scadalive: cannot read config file \/nonexistent\/scadalive\.yaml: file not found$/,
    ],
    ['a bad config field', ['serve', '--config', tempConfig('server:\n  port: high\n')], /^scadalive: invalid config: server\.port: /],
    ['no API key at all', ['serve', '--config', tempConfig('instances: []\n')], /^scadalive: no API keys configured/],
    [
      '--insecure-no-auth on a public address',
      ['serve', '--config', tempConfig('instances: []\n'), '--insecure-no-auth', '--host', '0.0.0.0'],
      /^scadalive: --insecure-no-auth is only allowed on a loopback host/,
    ],
    ['a bad port option', ['serve', '--config', 'config/dev.yaml', '--port', 'x'], /--port.*must be a port number/],
    ['a missing --config', ['serve'], /required option '-c, --config <file>'/],
  ])('exits 2 with one clear line for %s', async (_name, args, message) => {
    const r = run(args);
    expect(await r.exit).toBe(2);
    const lines = ownLines(r.stderr()).filter((l) => !l.startsWith('(run with --help'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
  });

  it('serves config/dev.yaml (what npm start runs), prints URL and curl, and shuts down gracefully on SIGTERM', async () => {
    const r = run(['serve', '--config', 'config/dev.yaml', '--port', '0', '--log-level', 'warn']);
    try {
      const deadline = Date.now() + 20_000;
      let m: RegExpExecArray | null = null;
      while (!(m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(r.stderr())) && Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, 100));
      }
      expect(m).not.toBeNull();
      const url = m![1];
      expect(r.stderr()).toContain(`curl -s -H 'Authorization: Bearer ${DEV_KEY}' ${url}/api/health`);
      // The first instance of dev.yaml is `scada`: the banner's stream example is one of its channels.
      expect(r.stderr()).toContain(`"instance":"scada","channels":["pump-station/north/discharge_pressure"]`);
      expect(r.stderr()).toContain(`${url}/api/v1/devices`);

      const health = await fetch(`${url}/api/health`, { headers: { authorization: `Bearer ${DEV_KEY}` } });
      expect(health.status).toBe(200);
      const body = (await health.json()) as { status: string; details: { instances: Array<{ id: string; state: string }> } };
      // OK even without the simulator on 5020: an unreachable device only degrades health.
      expect(body.status).toBe('OK');
      expect(body.details.instances.map((i) => `${i.id}:${i.state}`)).toEqual(['scada:ready', 'sim:ready', 'csv:ready']);
      expect((await fetch(`${url}/plugins/csv/`, { headers: { 'x-api-key': DEV_KEY } })).status).toBe(200);
      expect((await fetch(`${url}/api/health`)).status).toBe(401);

      r.child.kill('SIGTERM');
      expect(await r.exit).toBe(0);
    } finally {
      if (r.child.exitCode === null) r.child.kill('SIGKILL');
    }
  });
});

/** Waits until `pattern` shows up in `text()` (the child's stderr), or fails after `timeoutMs`. */
async function waitForText(text: () => string, pattern: RegExp, timeoutMs = 20_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = pattern.exec(text());
    if (m) return m;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; stderr:\n${text()}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

describe('scadalive serve --simulate-modbus (npm start)', () => {
  it('runs config/modbus-sim.yaml in-process and polls it with the model of config/dev.yaml', async () => {
    // npm start's two files, moved to free ports so the test never meets a running `npm start`.
    const simPort = await freePort();
    const sim = parse(readFileSync(path.join(REPO, 'config/modbus-sim.yaml'), 'utf8'));
    const dev = parse(readFileSync(path.join(REPO, 'config/dev.yaml'), 'utf8'));
    expect(dev.model.devices[0]).toMatchObject({ host: sim.host, port: sim.port });
    sim.port = simPort;
    dev.model.devices[0].port = simPort;
    dev.pluginsDir = path.join(REPO, 'plugins');
    dev.instances.find((i: { id: string }) => i.id === 'csv').params.file = path.join(REPO, 'plugins/data/example.csv');
    const dir = mkdtempSync(path.join(tmpdir(), 'scadalive-cli-'));
    writeFileSync(path.join(dir, 'sim.yaml'), stringify(sim));
    writeFileSync(path.join(dir, 'dev.yaml'), stringify(dev));

    const r = run([
      'serve',
      '--config',
      path.join(dir, 'dev.yaml'),
      '--simulate-modbus',
      path.join(dir, 'sim.yaml'),
      '--port',
      '0',
      '--log-level',
      'warn',
    ]);
    try {
      const url = (await waitForText(r.stderr, /listening on (http:\/\/127\.0\.0\.1:\d+)/))[1];
      expect(r.stderr()).toContain(`Modbus TCP simulator on 127.0.0.1:${simPort}`);
      const get = async (p: string, init: RequestInit = {}) => {
        const res = await fetch(url + p, { ...init, headers: { authorization: `Bearer ${DEV_KEY}`, 'content-type': 'application/json' } });
        return { status: res.status, body: (await res.json()) as Record<string, unknown> & { [k: string]: never } };
      };
      expect((await get('/api/v1/devices')).body).toEqual([expect.objectContaining({ id: 'pump-station', port: simPort })]);
      // Values as modbus-sim.yaml makes them, through the query handler.
      const deadline = Date.now() + 15_000;
      let hours: number[] = [];
      let pressures: number[] = [];
      while (pressures.length < 2 && Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, 300));
        const to = Date.now();
        const q = {
          refId: 'A',
          instance: 'scada',
          channels: ['pump-station/north/running_hours', 'pump-station/north/discharge_pressure'],
          intervalMs: 1000,
        };
        const ans = (await get('/api/query', { method: 'POST', body: JSON.stringify({ from: to - 5000, to, queries: [q] }) }))
          .body as unknown as {
          results: { A: { frames: Array<{ data: { values: Array<Array<number | null>> } }> } };
        };
        const cols = ans.results.A.frames[0]?.data.values ?? [];
        hours = (cols[1] ?? []).filter((v): v is number => v !== null);
        pressures = (cols[2] ?? []).filter((v): v is number => v !== null);
      }
      // discharge_pressure: a sine 4.5 ± 0.6 bar (float32 CDAB), stored at every poll as it moves.
      expect(pressures.length).toBeGreaterThanOrEqual(2);
      for (const p of pressures) expect(Math.abs(p - 4.5)).toBeLessThanOrEqual(0.6 + 1e-3);
      // running_hours: a uint32 counter from 12840, one step every 10 s (stored when it changes).
      expect(hours.length).toBeGreaterThanOrEqual(1);
      for (const v of hours) expect(v).toBeGreaterThanOrEqual(12840);
      const health = (await get('/api/health')).body as unknown as { status: string; details: { probes: { devices: { status: string } } } };
      expect(health.status).toBe('OK');
      expect(health.details.probes.devices.status).toBe('ok');

      r.child.kill('SIGINT');
      expect(await r.exit).toBe(0);
    } finally {
      if (r.child.exitCode === null) r.child.kill('SIGKILL');
    }
  });

  it('exits 2 with one clear line when the simulator cannot listen', async () => {
    const busy = await freePort();
    const blocker = createServer().listen(busy, '127.0.0.1');
    await new Promise((res) => blocker.once('listening', res));
    try {
      const simFile = tempConfig(`port: ${busy}\nunits:\n  - unitId: 1\n`);
      const r = run(['serve', '--config', 'config/dev.yaml', '--port', '0', '--simulate-modbus', simFile]);
      expect(await r.exit).toBe(2);
      const lines = ownLines(r.stderr());
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^scadalive: modbus simulator cannot listen on 127\\.0\\.0\\.1:${busy}`));
    } finally {
      blocker.close();
    }
  });
});

describe('scadalive simulate modbus', () => {
  it('serves the sample config on the given port and stops gracefully on SIGTERM', async () => {
    const port = await freePort();
    const r = run(['simulate', 'modbus', '--config', 'config/modbus-sim.yaml', '--port', String(port), '--log-level', 'warn']);
    const client = new ModbusRTU();
    try {
      await waitForText(r.stderr, new RegExp(`Modbus TCP simulator listening on 127\\.0\\.0\\.1:${port}`));
      await client.connectTCP('127.0.0.1', { port });
      client.setID(1);
      client.setTimeout(2000);
      // setpoint_pressure: int16 at holding 12, 4.5 at scale 0.01.
      expect((await client.readHoldingRegisters(12, 1)).data).toEqual([450]);
      client.setID(2);
      expect((await client.readDiscreteInputs(0, 1)).data[0]).toBe(false);
      await new Promise<void>((res) => client.close(() => res()));
      r.child.kill('SIGTERM');
      expect(await r.exit).toBe(0);
    } finally {
      if (client.isOpen) client.close(() => undefined);
      if (r.child.exitCode === null) r.child.kill('SIGKILL');
    }
  });

  it('exits 2 with one clear line for a bad simulator config', async () => {
    const r = run([
      'simulate',
      'modbus',
      '--config',
      tempConfig(
        'units:\n  - unitId: 1\n    points:\n      - name: x\n        table: coil\n        address: 0\n        dataType: int16\n        behaviour: { kind: static, value: 1 }\n',
      ),
    ]);
    expect(await r.exit).toBe(2);
    const lines = ownLines(r.stderr());
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^scadalive: invalid modbus simulator config: units\.0\.points\.0\.dataType: a coil holds a bool/);
  });

  it('exits 2 for a missing --config', async () => {
    const r = run(['simulate', 'modbus']);
    expect(await r.exit).toBe(2);
    expect(r.stderr()).toMatch(/required option '-c, --config <file>'/);
  });
});
