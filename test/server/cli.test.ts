/** The CLI as users run it (`tsx src/sidecar/main.ts serve …`, what `npm start` does), in a child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
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
const ownLines = (text: string): string[] => text.split('\n').filter((l) => l.trim() !== '' && !/^\(node:\d+\)|--trace-warnings|^npm warn/.test(l));

describe('scadalive serve', () => {
  it.each([
    ['a missing config file', ['serve', '--config', '/nonexistent/scadalive.yaml'], /^scadalive: cannot read config file \/nonexistent\/scadalive\.yaml: file not found$/],
    ['a bad config field', ['serve', '--config', tempConfig('server:\n  port: high\n')], /^scadalive: invalid config: server\.port: /],
    ['no API key at all', ['serve', '--config', tempConfig('instances: []\n')], /^scadalive: no API keys configured/],
    ['--insecure-no-auth on a public address', ['serve', '--config', tempConfig('instances: []\n'), '--insecure-no-auth', '--host', '0.0.0.0'], /^scadalive: --insecure-no-auth is only allowed on a loopback host/],
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
      expect(r.stderr()).toContain(`"instance":"sim","channels":["temperature"]`);

      const health = await fetch(`${url}/api/health`, { headers: { authorization: `Bearer ${DEV_KEY}` } });
      expect(health.status).toBe(200);
      const body = (await health.json()) as { status: string; details: { instances: Array<{ id: string; state: string }> } };
      expect(body.status).toBe('OK');
      expect(body.details.instances.map((i) => `${i.id}:${i.state}`)).toEqual(['sim:ready', 'csv:ready']);
      expect((await fetch(`${url}/plugins/csv/`, { headers: { 'x-api-key': DEV_KEY } })).status).toBe(200);
      expect((await fetch(`${url}/api/health`)).status).toBe(401);

      r.child.kill('SIGTERM');
      expect(await r.exit).toBe(0);
    } finally {
      if (r.child.exitCode === null) r.child.kill('SIGKILL');
    }
  });
});
