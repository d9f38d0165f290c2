/**
 * The built plugin in a real browser: headless Chromium (Debian's, driven by
 * playwright-core) loads dist/module.js with the real @grafana/* packages from the harness
 * page, renders both editors, and runs a live query against a real sidecar through a copy
 * of Grafana's data source proxy. Screenshots go to docs/screenshots/ with
 * UPDATE_SCREENSHOTS=1 (`npm run screenshots`), else to a temporary directory.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { READ_KEY, REPO } from '../server/harness';
import { PROXY_PREFIX, startBrowserHarness, type BrowserHarness } from './harness-server';
import type { HarnessReport } from './report';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = process.env.UPDATE_SCREENSHOTS
  ? path.join(REPO, 'docs/screenshots')
  : fs.mkdtempSync(path.join(os.tmpdir(), 'scadalive-shots-'));
/** Assets the Grafana app serves itself (its fonts, its spinner); @grafana/ui does not ship them. */
const GRAFANA_APP_ASSET = /\/public\/fonts\/|\/icons\/unicons\/spinner\.svg$/;

type Report = HarnessReport;

let harness: BrowserHarness;
let browser: Browser;

beforeAll(async () => {
  harness = await startBrowserHarness();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // As root in a container, without GPU; and no calls home (this network is closed).
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await harness?.close();
});

interface Session {
  page: Page;
  problems: string[];
  requests: Array<{ url: string; headers: Record<string, string> }>;
  sockets: string[];
  report(): Promise<Report>;
}

async function open(query = ''): Promise<Session> {
  const page = await browser.newPage({ viewport: { width: 1150, height: 960 } });
  const problems: string[] = [];
  const requests: Session['requests'] = [];
  const sockets: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('response', (r) => {
    if (r.status() >= 400 && !GRAFANA_APP_ASSET.test(r.url())) problems.push(`HTTP ${r.status()} ${r.url()}`);
  });
  page.on('request', (r) => requests.push({ url: r.url(), headers: r.headers() }));
  page.on('websocket', (ws) => sockets.push(ws.url()));
  await page.goto(harness.url + query);
  // These run in the page, where the host keeps its report on window (here: globalThis).
  await page.waitForFunction(
    () => {
      const r = (globalThis as unknown as { harness?: Report }).harness;
      return r?.ready || !!r?.loadError;
    },
    null,
    { timeout: 30_000 },
  );
  const report = () => page.evaluate(() => JSON.parse(JSON.stringify((globalThis as unknown as { harness?: Report }).harness)) as Report);
  expect((await report()).loadError).toBeUndefined();
  return { page, problems, requests, sockets, report };
}

/** Picks in a @grafana/ui Select the way a user does: click, type, click the option. */
async function choose(page: Page, inputId: string, text: string): Promise<void> {
  await page.click(`#${inputId}`);
  await page.keyboard.type(text);
  await page.locator('[role="option"]', { hasText: text }).first().click();
  await page.keyboard.press('Escape');
}

async function waitFor(session: Session, pred: (r: Report) => boolean, what: string, timeoutMs = 15_000): Promise<Report> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await session.report();
    if (pred(r)) return r;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; page reported ${JSON.stringify(r)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** Picks an instance and channels in the query editor, then waits for history and live appends. */
async function runLiveQuery(s: Session, instance: string, channels: string[]): Promise<Report> {
  await choose(s.page, 'scada-instance', instance);
  // Search by the whole name: until the sidecar's answer re-renders the list, the typed
  // text is offered as a custom value, and a click racing that re-render takes whichever
  // option is under it. With the whole name typed, both options are the same channel.
  for (const c of channels) await choose(s.page, 'scada-channels', c);
  const first = await waitFor(s, (r) => r.state === 'Streaming' && r.rows > 0, 'history and a live subscription');
  // Live appends: more updates and a later last row, while the frame stays one ascending series.
  return waitFor(s, (r) => r.emissions >= first.emissions + 2 && (r.lastTime ?? 0) > (first.lastTime ?? 0), 'live appends');
}

describe('the plugin in headless Chromium', () => {
  it('loads dist/module.js and renders the config editor, which edits the settings', async () => {
    const s = await open();
    const url = s.page.getByPlaceholder('http://localhost:3210');
    await expect(url.inputValue()).resolves.toBe('http://sidecar:3210');
    await url.fill('http://sidecar.plant.local:3210');
    await expect(url.inputValue()).resolves.toBe('http://sidecar.plant.local:3210');
    // The key is a secret Grafana keeps: the editor only shows that it is configured.
    await expect(s.page.locator('#config-editor input[value="configured"]').count()).resolves.toBe(1);
    await s.page.click('#test-datasource');
    await s.page.locator('#health').waitFor();
    const health = (await s.report()).health!;
    expect(health.status).toBe('success');
    expect(health.message).toMatch(/3 of 3 data sources ready/); // scada, sim and csv of config/dev.yaml
    expect(s.problems).toEqual([]);
    await s.page.close();
  });

  it('runs a live query on Modbus points from the query editor, over a proxied WebSocket', async () => {
    const s = await open('?range=1');
    await runLiveQuery(s, 'scada', ['pump-station/north/discharge_pressure', 'pump-station/tank/level']);
    // Enough polls for the graph to show the signals' shape (the devices started with the harness).
    await waitFor(s, (x) => x.rows >= 12, 'a dozen polls', 30_000);
    // For the README's screenshots, half a minute of polls so the graph shows the signals.
    if (process.env.UPDATE_SCREENSHOTS) await s.page.waitForTimeout(40_000);
    const r = await s.report();
    expect(r.fields).toEqual(['time', 'pump-station/north/discharge_pressure', 'pump-station/tank/level']);
    expect(r.ascending).toBe(true);
    expect(r.errors).toEqual([]);
    // From config/modbus-sim.yaml: pressure 4.5 ± 0.6 bar (float32 CDAB), level a 20..90 % ramp (float32 ABCD).
    const [pressure, level] = r.lastValues;
    expect(pressure).toBeGreaterThanOrEqual(3.9 - 1e-6);
    expect(pressure).toBeLessThanOrEqual(5.1 + 1e-6);
    expect(level).toBeGreaterThanOrEqual(20 - 1e-6);
    expect(level).toBeLessThanOrEqual(90 + 1e-6);

    // One socket for the data source, kept while the query was edited and re-run; everything
    // went through the proxy path, and the browser never sent (or held) the key.
    expect(s.sockets).toEqual([expect.stringMatching(new RegExp(`^ws://127\\.0\\.0\\.1:\\d+${PROXY_PREFIX}/sidecar/api/live$`))]);
    const api = s.requests.filter((q) => q.url.includes('/sidecar/'));
    expect(api.length).toBeGreaterThan(0);
    for (const q of api) expect(q.url.startsWith(harness.origin + PROXY_PREFIX + '/sidecar/')).toBe(true);
    for (const q of s.requests) expect(JSON.stringify(q)).not.toContain(READ_KEY);
    await expect(s.page.content()).resolves.not.toContain(READ_KEY);

    await s.page.mouse.click(1100, 900); // blur the channel picker, as a user leaving the editor would
    await s.page.screenshot({ path: path.join(SHOTS, 'browser-harness.png'), fullPage: true });
    await s.page.locator('#query-editor').screenshot({ path: path.join(SHOTS, 'query-editor.png') });
    await s.page.locator('#config-editor').screenshot({ path: path.join(SHOTS, 'config-editor.png') });
    expect(fs.statSync(path.join(SHOTS, 'browser-harness.png')).size).toBeGreaterThan(10_000);
    expect(s.problems).toEqual([]);

    // Closing the panel's page closes its live socket at the proxy.
    await s.page.close();
    await waitUntil(() => harness.openSockets() === 0, 'the proxied socket to close');
  }, 90_000);

  it('resumes after a dropped connection without duplicate or missing rows', async () => {
    const s = await open();
    const before = await runLiveQuery(s, 'sim', ['temperature', 'pressure']);
    harness.dropSockets();
    const after = await waitFor(
      s,
      (r) => (r.lastTime ?? 0) > (before.lastTime ?? 0) + 2_000 && r.emissions > before.emissions + 2,
      'appends after the reconnect',
    );
    expect(after.ascending).toBe(true);
    expect(after.errors).toEqual([]);
    expect(s.sockets.length).toBeGreaterThanOrEqual(2); // it did reconnect
    expect(s.problems).toEqual([]);
    await s.page.close();
  });

  it('streams over the chunked-HTTP fallback when the data source is set to it', async () => {
    const s = await open('?transport=http');
    const r = await runLiveQuery(s, 'sim', ['temperature']);
    expect(r.ascending).toBe(true);
    expect(s.sockets).toEqual([]);
    expect(s.requests.some((q) => q.url.startsWith(`${harness.origin}${PROXY_PREFIX}/sidecar/api/live/http`))).toBe(true);
    expect(s.problems).toEqual([]);
    await s.page.close();
  });
});

async function waitUntil(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}
