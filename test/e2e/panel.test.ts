import { expect } from 'chai';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { CallbackReceiver } from '../support/callback-receiver';
import { doc, startTestPlatform, TestPlatform, TEST_ADMIN_TOKEN } from '../support/platform';
import { basic, request, sendSms, single } from '../support/send-client';

/*
 * The web panel, from two sides: plain HTTP for the session, cookie and CSRF rules (these run
 * everywhere), and a real headless Chromium (Debian's, driven by playwright-core) for the operator's
 * screens. The browser tests skip only when /usr/bin/chromium is absent, and say so.
 */

const ROOT = path.resolve(__dirname, '../..');
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(ROOT, 'test-artifacts/panel');
const DOCS = path.join(ROOT, 'docs/panel');

// ------------------------------------------------------------------ plain HTTP helpers

interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
  setCookies: string[];
}

/** A minimal browser stand-in: keeps the cookies it is given and never follows redirects. */
class CookieClient {
  readonly jar = new Map<string, string>();
  constructor(readonly base: string) {}

  async go(method: string, urlPath: string, form?: Record<string, string | string[]>, headers: Record<string, string> = {}): Promise<HttpAnswer> {
    const body = form ? formBody(form) : undefined;
    const res = await fetch(this.base + urlPath, {
      method,
      redirect: 'manual',
      headers: {
        ...(this.jar.size ? { cookie: [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ') } : {}),
        ...(body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        ...headers,
      },
      body,
    });
    const setCookies = res.headers.getSetCookie();
    for (const c of setCookies) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (value === '' || /Expires=Thu, 01 Jan 1970/i.test(c)) this.jar.delete(name);
      else this.jar.set(name, value);
    }
    return { status: res.status, headers: res.headers, text: await res.text(), setCookies };
  }

  async signIn(token = TEST_ADMIN_TOKEN): Promise<HttpAnswer> {
    const form = await this.go('GET', '/panel/login');
    return this.go('POST', '/panel/login', { _csrf: hiddenValue(form.text, '_csrf'), token, next: '' });
  }

  /** The CSRF token a signed-in page carries. */
  async csrf(): Promise<string> {
    const res = await this.go('GET', '/panel/trunks');
    expect(res.status, res.text.slice(0, 300)).to.equal(200);
    return /<meta name="csrf-token" content="([^"]+)">/.exec(res.text)![1]!;
  }
}

function formBody(form: Record<string, string | string[]>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(form)) for (const item of Array.isArray(v) ? v : [v]) p.append(k, item);
  return p.toString();
}

const hiddenValue = (page: string, name: string): string => new RegExp(`name="${name}" value="([^"]*)"`).exec(page)![1]!;

const trunkNames = async (t: TestPlatform): Promise<string[]> => (await t.api('GET', '/v1/sms_trunks')).body.data.map((x: any) => x.attributes.name);

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ------------------------------------------------------------------ HTTP: sessions, cookies, CSRF

describe('web panel over HTTP: sign-in, session cookie and CSRF', function () {
  this.timeout(30_000);
  let t: TestPlatform;
  before(async () => {
    t = await startTestPlatform({ TRUSTED_PROXIES: '127.0.0.2/32', AUTH_MAX_FAILURES_PER_IP: '5' });
  });
  after(async () => {
    await t?.stop();
  });

  it('redirects / to the panel and a signed-out visitor to the sign-in page', async () => {
    const c = new CookieClient(t.url);
    const root = await c.go('GET', '/');
    expect(root.status).to.equal(302);
    expect(root.headers.get('location')).to.equal('/panel/');
    const trunks = await c.go('GET', '/panel/trunks?q=x');
    expect(trunks.status).to.equal(302);
    expect(trunks.headers.get('location')).to.equal('/panel/login?next=%2Fpanel%2Ftrunks%3Fq%3Dx');
  });

  it('serves its script and stylesheet itself, with a CSP that allows no inline script and no other origin', async () => {
    const c = new CookieClient(t.url);
    const login = await c.go('GET', '/panel/login');
    const csp = login.headers.get('content-security-policy')!;
    expect(csp).to.include("script-src 'self'").and.include("style-src 'self'").and.include("frame-ancestors 'none'");
    expect(csp).not.to.include('unsafe-inline');
    expect(login.headers.get('cache-control')).to.equal('no-store');
    expect(login.headers.get('x-content-type-options')).to.equal('nosniff');
    expect(login.text).not.to.match(/<script(?![^>]*\bsrc=)/);
    expect(login.text).not.to.match(/style="/);
    expect(login.text).not.to.match(/https?:\/\//);
    const js = await c.go('GET', '/panel/assets/panel.js');
    expect(js.status).to.equal(200);
    expect(js.headers.get('content-type')).to.match(/javascript/);
    const css = await c.go('GET', '/panel/assets/panel.css');
    expect(css.status).to.equal(200);
    expect(css.text).not.to.match(/@import|url\(\s*['"]?https?:/);
    expect((await c.go('GET', '/panel/assets/nope.js')).status).to.equal(404);
  });

  it('fails when the admin token is wrong, and when the sign-in form did not come from the panel', async () => {
    const c = new CookieClient(t.url);
    const wrong = await c.signIn('not-the-token-0123456789');
    expect(wrong.status).to.equal(401);
    expect(wrong.text).to.include('The admin token is not valid or has been revoked');
    expect(wrong.setCookies.some((s) => s.startsWith('panel_session='))).to.equal(false);
    const forged = await new CookieClient(t.url).go('POST', '/panel/login', { _csrf: 'made-up', token: TEST_ADMIN_TOKEN });
    expect(forged.status).to.equal(403);
    expect(forged.setCookies.some((s) => s.startsWith('panel_session='))).to.equal(false);
  });

  it('signs in with an admin token: an HttpOnly, SameSite=Strict session cookie whose id is stored only as a hash', async () => {
    const c = new CookieClient(t.url);
    const res = await c.signIn();
    expect(res.status).to.equal(303);
    expect(res.headers.get('location')).to.equal('/panel/trunks');
    const cookie = res.setCookies.find((s) => s.startsWith('panel_session='))!;
    expect(cookie).to.match(/; HttpOnly/).and.match(/; SameSite=Strict/).and.match(/; Path=\/panel/);
    expect(cookie).not.to.match(/; Secure/);
    const id = c.jar.get('panel_session')!;
    const rows = await t.platform.db.knex('panel_sessions').select('*');
    expect(rows.map((r: any) => r.id_hash)).to.include(crypto.createHash('sha256').update(id).digest('hex'));
    expect(JSON.stringify(rows)).not.to.include(id);
    expect((await c.go('GET', '/panel/trunks')).status).to.equal(200);
    const audit = await t.api('GET', '/v1/audit_events?filter[action]=panel.sign_in');
    expect(audit.body.data[0].attributes.actor).to.equal('ADMIN_TOKEN (env)');
  });

  it('fails with 429 after too many wrong tokens from one address, even with the right token, while other addresses sign in', async () => {
    const attempt = async (token: string) => {
      const form = await request(`${t.url}/panel/login`, { localAddress: '127.0.0.3' });
      return request(`${t.url}/panel/login`, {
        method: 'POST',
        localAddress: '127.0.0.3',
        headers: { cookie: String(form.headers['set-cookie']![0]).split(';')[0]!, 'content-type': 'application/x-www-form-urlencoded' },
        body: formBody({ _csrf: hiddenValue(form.text, '_csrf'), token }),
      });
    };
    for (let i = 0; i < 5; i++) expect((await attempt(`wrong-token-${i}-0123456789`)).status).to.equal(401);
    const blocked = await attempt(TEST_ADMIN_TOKEN);
    expect(blocked.status).to.equal(429);
    expect(Number(blocked.headers['retry-after'])).to.be.greaterThan(0);
    expect(blocked.text).to.include('Too many failed authentications');
    expect((await new CookieClient(t.url).signIn()).status).to.equal(303);
  });

  it('marks the cookie Secure behind a trusted TLS proxy, and ignores X-Forwarded-Proto from anyone else', async () => {
    const signInFrom = async (localAddress: string) => {
      const form = await request(`${t.url}/panel/login`, { localAddress });
      const loginCookie = String(form.headers['set-cookie']![0]).split(';')[0]!;
      const res = await request(`${t.url}/panel/login`, {
        method: 'POST',
        localAddress,
        headers: { cookie: loginCookie, 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-proto': 'https' },
        body: formBody({ _csrf: hiddenValue(form.text, '_csrf'), token: TEST_ADMIN_TOKEN }),
      });
      expect(res.status).to.equal(303);
      return (res.headers['set-cookie'] as string[]).find((s) => s.startsWith('panel_session='))!;
    };
    expect(await signInFrom('127.0.0.2')).to.match(/; Secure/);
    expect(await signInFrom('127.0.0.1')).not.to.match(/; Secure/);
  });

  it('fails when a POST has no CSRF token, or the token of another session, and changes nothing', async () => {
    const a = new CookieClient(t.url);
    await a.signIn();
    const b = new CookieClient(t.url);
    await b.signIn();
    const form = { name: 'Sneaky', callback_url: '', allowed_ips: '', allow_any_did_as_source: 'true' };
    const without = await a.go('POST', '/panel/trunks', form);
    expect(without.status).to.equal(403);
    expect(without.text).to.include('CSRF token is missing or wrong');
    const otherSessions = await a.go('POST', '/panel/trunks', { ...form, _csrf: await b.csrf() });
    expect(otherSessions.status).to.equal(403);
    const viaHeaderWrong = await a.go('POST', '/panel/trunks', form, { 'x-csrf-token': 'nope' });
    expect(viaHeaderWrong.status).to.equal(403);
    expect(await trunkNames(t)).not.to.include('Sneaky');

    const ok = await a.go('POST', '/panel/trunks', { ...form, _csrf: await a.csrf() });
    expect(ok.status).to.equal(303);
    expect(await trunkNames(t)).to.include('Sneaky');
    const audit = await t.api('GET', '/v1/audit_events?filter[action]=trunk.create');
    expect(audit.body.data[0].attributes.actor).to.equal('ADMIN_TOKEN (env)');
  });

  it('works without JavaScript: the key icon opens a page whose plain form posts regenerate the password', async () => {
    const created = await t.api('POST', '/v1/sms_trunks', doc('sms_trunks', { name: 'No script' }));
    const id = created.body.data.id;
    const c = new CookieClient(t.url);
    await c.signIn();
    const before = (await t.api('GET', `/v1/sms_trunks/${id}/credentials`)).body.data.attributes;
    const page = await c.go('GET', `/panel/trunks/${id}/credentials`);
    expect(page.status).to.equal(200);
    expect(page.text).to.include('<!doctype html>').and.include(`value="${before.password}"`);
    const fragment = await c.go('GET', `/panel/trunks/${id}/credentials`, undefined, { 'x-panel-fragment': '1' });
    expect(fragment.text).not.to.include('<!doctype html>');
    const regenerated = await c.go('POST', `/panel/trunks/${id}/credentials/regenerate`, { _csrf: await c.csrf(), grace_period_seconds: '3600' });
    expect(regenerated.status).to.equal(200);
    const after = (await t.api('GET', `/v1/sms_trunks/${id}/credentials`)).body.data.attributes;
    expect(after.password).not.to.equal(before.password);
    expect(after.previous_password_valid_until).to.be.a('string');
    expect(regenerated.text).to.include(`value="${after.password}"`).and.include('The old one keeps working until');
  });

  it('ends a session at sign-out, and when the admin token it signed in with is revoked', async () => {
    const c = new CookieClient(t.url);
    await c.signIn();
    const stolen = c.jar.get('panel_session')!;
    const out = await c.go('POST', '/panel/logout', { _csrf: await c.csrf() });
    expect(out.status).to.equal(303);
    const replay = new CookieClient(t.url);
    replay.jar.set('panel_session', stolen);
    expect((await replay.go('GET', '/panel/trunks')).status).to.equal(302);

    const created = await t.api('POST', '/v1/admin_tokens', doc('admin_tokens', { name: 'ops laptop' }));
    expect(created.status, created.text).to.equal(201);
    const d = new CookieClient(t.url);
    expect((await d.signIn(created.body.data.attributes.token)).status).to.equal(303);
    const page = await d.go('GET', '/panel/trunks');
    expect(page.status).to.equal(200);
    expect(page.text).to.include('ops laptop');
    expect((await t.api('DELETE', `/v1/admin_tokens/${created.body.data.id}`)).status).to.equal(204);
    expect((await d.go('GET', '/panel/trunks')).status).to.equal(302);
  });
});

// ------------------------------------------------------------------ the browser

describe('web panel in headless Chromium', function () {
  this.timeout(120_000);
  let t: TestPlatform;
  let rx: CallbackReceiver;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];
  let setId = '';
  let trunkId = '';

  const shot = async (name: string, opts: { docs?: boolean; fullPage?: boolean } = {}) => {
    const file = path.join(ARTIFACTS, `${name}.png`);
    await page.screenshot({ path: file, fullPage: opts.fullPage ?? false });
    if (opts.docs) fs.copyFileSync(file, path.join(DOCS, `${name}.png`));
  };

  /** Every visible form control has a label (or an aria-label): the panel is usable with a screen reader. */
  const expectLabelled = async () => {
    const unlabelled = await page.$$eval('input:not([type=hidden]), select, textarea', (els) =>
      els
        .filter((el) => (el as HTMLElement).offsetParent !== null)
        .filter((el) => !((el as HTMLInputElement).labels?.length || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')))
        .map((el) => el.outerHTML.slice(0, 120)),
    );
    expect(unlabelled).to.deep.equal([]);
  };

  before(async function () {
    if (!fs.existsSync(CHROMIUM)) {
      console.log(`    skipped: ${CHROMIUM} is absent (apt-get install chromium; .ci/run installs it)`);
      this.skip();
    }
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    fs.mkdirSync(DOCS, { recursive: true });
    rx = await new CallbackReceiver().start();
    t = await startTestPlatform(
      { CALLBACK_ALLOW_CIDRS: '127.0.0.0/8,::1/128', SIMULATOR_RECEIPT_DELAY_MS: '300' },
      // Short callback windows so a failing receiver dead-letters within seconds (the replay screen).
      { retryPolicy: { initialDelayMs: 200, maxDelayMs: 400, maxAgeMs: 2500 } },
    );
    const { chromium } = await import('playwright-core');
    // playwright gives every launch a fresh temporary profile; the flags keep Chromium from calling home.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
    context.setDefaultTimeout(10_000);
    page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !/status of 40[13]|status of 410|status of 422|status of 409/.test(msg.text())) pageErrors.push(`console: ${msg.text()}`);
    });
  });

  after(async () => {
    await browser?.close();
    await t?.stop();
    await rx?.stop();
  });

  it('signs in with an admin token', async () => {
    await page.goto(`${t.url}/`);
    expect(new URL(page.url()).pathname).to.equal('/panel/login');
    await expectLabelled();
    await shot('01-sign-in', { docs: true });
    await page.getByLabel('Admin token').fill('wrong-token-0123456789abcdef');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#e-token').getByText('The admin token is not valid or has been revoked').waitFor();
    await page.getByLabel('Admin token').fill(TEST_ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'SMS trunks' }).waitFor();
    expect(new URL(page.url()).pathname).to.equal('/panel/trunks');
    const cookie = (await context.cookies()).find((c) => c.name === 'panel_session')!;
    expect(cookie.httpOnly).to.equal(true);
    expect(cookie.sameSite).to.equal('Strict');
  });

  it('imports DIDs from CSV with a result summary, and lists every bad row when one is wrong', async () => {
    await page.getByRole('link', { name: 'DIDs' }).click();
    await page.getByLabel('…or paste the rows').fill('number,capabilities\n12125550001,sms_out\nabc,sms_out\n12125550002,fax\n');
    await page.getByRole('button', { name: 'Import' }).click();
    await page.getByText('Nothing was imported').waitFor();
    const problems = await page.locator('.error-summary li').allTextContents();
    expect(problems.join('\n')).to.match(/^Row 2: .*abc/m).and.match(/^Row 3: .*fax/m);
    expect((await t.api('GET', '/v1/dids')).body.meta.total).to.equal(0);

    await page
      .getByLabel('…or paste the rows')
      .fill(
        'number,capabilities,description\n12125551234,sms_out,NYC main\n12125551235,sms_out,NYC support\n12125551236,sms_out;sms_in,NYC two-way\n4930123456,sms_out,Berlin\n4915112345678,sms_in,Berlin inbound only\n',
      );
    await page.getByRole('button', { name: 'Import' }).click();
    await page.getByText('Imported 5 rows: 5 created, 0 updated, 0 unchanged.').waitFor();
    expect(await page.locator('table.data tbody tr').count()).to.equal(5);
    await expectLabelled();
    await shot('02-dids', { docs: true });
    await page.getByLabel('Number contains').fill('1212');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByText('3 DIDs').waitFor();
  });

  it('creates a source-DID set by keyboard: filter, pick, move, save', async () => {
    await page.getByRole('link', { name: 'Source-DID sets' }).click();
    await page.getByRole('link', { name: '+ New set' }).click();
    await page.getByLabel('Name').fill('us-senders');
    await page.getByLabel('Filter available DIDs').fill('12125551');
    const available = page.getByLabel('Available with SMS OUT');
    await until('the filtered list', async () => (await available.locator('option').count()) === 3);
    // Tab from the filter to the list; arrows pick, Enter moves — no mouse.
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).to.equal('f-dids-available');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    expect(await page.locator('#f-dids option').allTextContents()).to.have.length(2);
    await page.getByRole('button', { name: 'Create set' }).click();
    await page.getByText('Source-DID set “us-senders” created with 2 DIDs.').waitFor();
    const sets = (await t.api('GET', '/v1/did_sets')).body.data;
    expect(sets).to.have.length(1);
    setId = sets[0].id;
    expect(sets[0].relationships.dids.data.map((d: any) => d.id).sort()).to.deep.equal(['12125551235', '12125551236']);
    await shot('03-did-sets', { docs: true });
  });

  it('creates a trunk with an IPv6 /64, showing a bad CIDR inline on its line, then picks its source DIDs', async () => {
    // A trunk that a stack owns, for the badge and the explanation on its edit page.
    const managed = await t.api('PUT', '/v1/sms_trunks/by-name/Payments', doc('sms_trunks', { callback_url: 'https://payments.example.com/sms', managed_by: 'cdktf:payments-prod' }));
    expect(managed.status, managed.text).to.equal(201);

    await page.getByRole('link', { name: 'SMS trunks' }).click();
    await page.getByRole('link', { name: '+ Create new HTTP OUT trunk' }).click();
    await expectLabelled();
    expect(await page.getByLabel('Allow any DID with SMS OUT').isChecked()).to.equal(true);
    expect(await page.locator('[data-source-picker]').isHidden()).to.equal(true);
    await page.getByLabel('Friendly name').fill('Marketing');
    await page.getByLabel('Callback URL').fill(rx.url);
    await page.getByLabel('Allowed IP addresses').fill('127.0.0.0/8\n2001:db8:1::/64\n\n10.0.0.5/24');
    await page.getByLabel('DLR events').check();
    await page.getByRole('button', { name: 'Create trunk' }).click();

    const ipErrors = page.locator('#e-allowed_ips li');
    await ipErrors.first().waitFor();
    expect(await ipErrors.allTextContents()).to.deep.equal([
      'Line 4: "10.0.0.5/24" has host bits set below /24; use 10.0.0.0/24 for the network or 10.0.0.5/32 for the single host',
    ]);
    expect(await page.getByLabel('Allowed IP addresses').getAttribute('aria-invalid')).to.equal('true');
    expect(await page.getByLabel('Friendly name').inputValue()).to.equal('Marketing');
    expect(await page.evaluate(() => document.activeElement?.id)).to.equal('error-summary');
    await shot('04-trunk-form-error', { docs: true, fullPage: true });
    expect(await trunkNames(t)).not.to.include('Marketing');

    await page.getByLabel('Allowed IP addresses').fill('127.0.0.0/8\n2001:db8:1::/64');
    await page.getByLabel('Allow any DID with SMS OUT').uncheck();
    expect(await page.locator('[data-source-picker]').isVisible()).to.equal(true);
    const available = page.getByLabel('Available with SMS OUT');
    // Only DIDs with SMS OUT are offered: the inbound-only Berlin number never is.
    expect(await available.locator('option').allTextContents()).to.deep.equal([
      '+12125551234 · NYC main',
      '+12125551235 · NYC support',
      '+12125551236 · NYC two-way',
      '+4930123456 · Berlin',
    ]);
    await page.getByLabel('Filter available DIDs').fill('49');
    await until('the filter', async () => (await available.locator('option').count()) === 1);
    await page.getByLabel('Filter available DIDs').fill('1212');
    await until('the filter', async () => (await available.locator('option').count()) === 3);
    await available.selectOption('12125551234');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    expect(await page.locator('#f-outgoing_dids option').allTextContents()).to.deep.equal(['+12125551234 · NYC main']);
    expect(await available.locator('option').count()).to.equal(2);
    await page.getByLabel(/us-senders/).check();
    await page.locator('[data-source-settings]').scrollIntoViewIfNeeded();
    await shot('05-source-address-settings', { docs: true, fullPage: true });
    await page.getByRole('button', { name: 'Create trunk' }).click();
    await page.getByText('Trunk “Marketing” created.').waitFor();

    const list = (await t.api('GET', '/v1/sms_trunks?filter[name]=Marketing')).body.data;
    expect(list).to.have.length(1);
    trunkId = list[0].id;
    expect(list[0].attributes).to.deep.include({ allowed_ips: ['127.0.0.0/8', '2001:db8:1::/64'], allow_any_did_as_source: false, dlr_events: true, callback_url: rx.url });
    expect(list[0].relationships.outgoing_dids.data).to.deep.equal([{ type: 'dids', id: '12125551234' }]);
    expect(list[0].relationships.outgoing_did_sets.data).to.deep.equal([{ type: 'did_sets', id: setId }]);

    const row = page.locator('tr[data-trunk="Marketing"]');
    expect(await row.textContent()).to.include('2001:db8:1::/64').and.include('1 DID + set us-senders');
    expect(await page.locator('tr[data-trunk="Payments"] .badge-code').textContent()).to.include('managed by code');
    await shot('06-trunks', { docs: true });
  });

  it('shows the credentials behind the key icon, regenerates the password, and the old one stops working on the send API', async () => {
    await page.getByRole('link', { name: 'Credentials of Marketing' }).click();
    const dialog = page.locator('dialog#panel-dialog');
    await dialog.getByRole('heading', { name: /Credentials — Marketing/ }).waitFor();
    const password = dialog.locator('#cred-password');
    expect(await password.getAttribute('type')).to.equal('password');
    const username = await dialog.locator('#cred-username').inputValue();
    expect(username).to.match(/^out_/);
    await shot('07-credentials', { docs: true });
    await dialog.getByRole('button', { name: 'Show password' }).click();
    expect(await password.getAttribute('type')).to.equal('text');
    expect(await dialog.getByRole('button', { name: 'Hide password' }).getAttribute('aria-pressed')).to.equal('true');
    const oldPassword = await password.inputValue();
    expect(oldPassword).to.have.length(32);
    await dialog.getByRole('button', { name: 'Copy password' }).click();
    await dialog.getByText('Copied to the clipboard').waitFor({ state: 'attached' });

    const message = single({ destination: '15551234567', source: '12125551234', content: 'before rotation' });
    expect((await sendSms(t.url, basic(username, oldPassword), message)).status).to.equal(201);

    await dialog.getByLabel('Old password stops working').selectOption('0');
    await dialog.getByRole('button', { name: 'Regenerate password' }).click();
    await dialog.getByText('New password generated. The old one stopped working now.').waitFor();
    expect(await dialog.locator('#cred-password').getAttribute('type')).to.equal('password');
    await dialog.getByRole('button', { name: 'Show password' }).click();
    const newPassword = await dialog.locator('#cred-password').inputValue();
    expect(newPassword).to.have.length(32).and.not.equal(oldPassword);

    const refused = await sendSms(t.url, basic(username, oldPassword), message);
    expect(refused.status).to.equal(401);
    expect(refused.body.errors[0].code).to.equal('UNAUTHORIZED');
    expect((await sendSms(t.url, basic(username, newPassword), single({ destination: '15551234567', source: '12125551234', content: 'after rotation' }))).status).to.equal(201);
    const audit = (await t.api('GET', `/v1/audit_events?filter[resource_id]=${trunkId}`)).body.data.map((e: any) => e.attributes.action);
    expect(audit).to.include('credentials.view').and.include('credentials.regenerate');
  });

  it('shares the credentials as a one-time link that opens once and is refused the second time', async () => {
    const dialog = page.locator('dialog#panel-dialog');
    await dialog.getByLabel('Share with').fill('ops@example.com');
    await dialog.getByLabel('Link expires in').selectOption('3600');
    await dialog.getByRole('button', { name: 'Share' }).click();
    await dialog.getByText(/One-time link created for ops@example.com/).waitFor();
    const url = await dialog.locator('#share-url').inputValue();
    expect(url).to.match(new RegExp(`^${t.url}/share/shr_`));
    const expires = Date.parse((await dialog.locator('[data-share-expires]').textContent())!.replace(' UTC', 'Z').replace(' ', 'T'));
    expect(expires - Date.now()).to.be.within(3500_000, 3600_000);
    await shot('08-share-link', { docs: true });
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    // Focus goes back to the key icon that opened the dialog.
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).to.equal('Credentials of Marketing');

    // The administrator opens the link in a browser without a panel session.
    const stranger = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const other = await stranger.newPage();
    await other.goto(url);
    await other.getByRole('button', { name: 'Reveal credentials' }).click();
    await other.getByRole('heading', { name: 'Credentials for “Marketing”' }).waitFor();
    const shown = await other.locator('dd code').allTextContents();
    const current = (await t.api('GET', `/v1/sms_trunks/${trunkId}/credentials`)).body.data.attributes;
    expect(shown.slice(0, 2)).to.deep.equal([current.username, current.password]);
    await other.screenshot({ path: path.join(ARTIFACTS, '08b-share-redeemed.png') });
    const second = await other.goto(url);
    expect(second!.status()).to.equal(410);
    await other.getByText('This share link has already been used; ask for a new one').waitFor();
    await stranger.close();
  });

  it('sends a test SMS through the send API and shows its status and callbacks until delivered', async () => {
    await page.getByRole('link', { name: 'Send a test SMS on Marketing' }).click();
    await page.getByRole('heading', { name: /Send SMS · Marketing/ }).waitFor();
    await expectLabelled();
    // A source this trunk may not use is refused by the send API, inline on the field.
    await page.getByLabel('From (source DID)').fill('4930123456');
    await page.getByLabel('To (destination)').fill('15551234567');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.locator('#e-source').getByText('source 4930123456 is not allowed on this trunk').waitFor();

    await page.getByLabel('From (source DID)').fill('12125551234');
    await page.getByLabel('Text').fill('Hello from the SMS OUT panel!');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.getByText(/Message accepted \(gsm7, 1 segment\)/).waitFor();
    const messageId = new URL(page.url()).searchParams.get('message')!;
    const status = page.locator('[data-message-status]');
    const seen = new Set<string>();
    await until('the status to reach delivered', async () => {
      const s = (await status.textContent()) ?? '';
      seen.add(s);
      return s === 'delivered';
    });
    // The status panel updated in place (polling), without a reload.
    expect(new URL(page.url()).searchParams.get('message')).to.equal(messageId);
    expect([...seen][0]).to.be.oneOf(['accepted', 'submitted']);
    await page.locator('.msg-status[data-done="true"]').waitFor();
    expect(await page.locator('#message-status [data-callback-kind]').count()).to.equal(2);
    expect(await page.locator('#message-status .code.ok').count()).to.be.at.least(2);
    await rx.waitFor(() => rx.forMessage(messageId).length >= 2);
    expect(rx.forMessage(messageId).map((c) => c.json.data.attributes.status)).to.deep.equal(['Success', 'DELIVERED']);
    await shot('09-send-sms', { docs: true });
  });

  it('shows the message log with callback attempts and response codes, and replays a failed callback', async () => {
    rx.respond = (cb) => ({ status: cb.json?.data?.attributes?.destination === '15557654321' ? 500 : 200 });
    await page.getByLabel('To (destination)').fill('15557654321');
    await page.getByLabel('Text').fill('Your receiver is down');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.getByText(/Message accepted/).waitFor();
    const failedId = new URL(page.url()).searchParams.get('message')!;
    await until(
      'both callbacks to be dead-lettered',
      async () => {
        const cbs = (await t.api('GET', `/v1/messages/${failedId}`)).body.data.attributes.callbacks;
        return cbs.length === 2 && cbs.every((c: any) => c.state === 'dead');
      },
      15_000,
    );
    rx.respond = () => ({ status: 200 });

    await page.getByRole('link', { name: 'Message log' }).click();
    const row = page.locator(`tr[data-message="${failedId}"]`);
    await row.waitFor();
    expect(await row.locator('[data-callback-state="dead"]').count()).to.equal(2);
    expect(await row.locator('.code.bad').first().textContent()).to.equal('500');
    expect(await page.locator('tr[data-message] .code.ok').count()).to.be.at.least(2);
    await shot('10-message-log', { docs: true, fullPage: true });

    await row.getByRole('button', { name: /Replay the Status callback/ }).click();
    await page.getByText('Callback queued again').waitFor();
    await rx.waitFor(() => rx.forMessage(failedId).length >= 1);
    await until('the log to show the replayed callback delivered', async () => {
      await page.reload();
      return (await page.locator(`tr[data-message="${failedId}"] [data-callback-state="delivered"]`).count()) === 1;
    });
    const replayed = page.locator(`tr[data-message="${failedId}"] [data-callback-state="delivered"] .attempts li`);
    expect(await replayed.last().locator('.code').textContent()).to.equal('200');
    const audit = (await t.api('GET', '/v1/audit_events?filter[action]=callback.replay')).body.data;
    expect(audit[0].attributes.actor).to.equal('ADMIN_TOKEN (env)');
  });

  it('explains that a stack owns a code-managed trunk, and saves there only with force', async () => {
    await page.getByRole('link', { name: 'SMS trunks' }).click();
    await page.getByRole('link', { name: 'Edit Payments' }).click();
    await page.getByRole('heading', { name: 'Managed by code' }).waitFor();
    expect(await page.locator('.callout-code').textContent()).to.include('cdktf:payments-prod').and.include('trunkctl drift --fix');
    await page.getByLabel('DLR events').check();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('.error-summary').getByText(/is managed by cdktf:payments-prod/).waitFor();
    await shot('11-managed-by-code', { docs: true });
    await page.getByLabel(/Save anyway \(force\)/).check();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Trunk “Payments” saved.').waitFor();
    const payments = (await t.api('GET', '/v1/sms_trunks?filter[name]=Payments')).body.data[0];
    expect(payments.attributes.dlr_events).to.equal(true);
    const audit = (await t.api('GET', `/v1/audit_events?filter[resource_id]=${payments.id}`)).body.data.map((e: any) => e.attributes.action);
    expect(audit).to.include('trunk.update_forced');
  });

  it('searches and deletes several trunks after a confirmation', async () => {
    for (const name of ['Temp A', 'Temp B']) expect((await t.api('POST', '/v1/sms_trunks', doc('sms_trunks', { name }))).status).to.equal(201);
    await page.goto(`${t.url}/panel/trunks`);
    await page.getByLabel('Search by name').fill('temp');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText('2 trunks').waitFor();
    await page.getByLabel('Select all trunks on this page').check();
    await page.getByRole('button', { name: 'Delete selected…' }).click();
    await page.getByRole('heading', { name: 'Delete 2 trunks?' }).waitFor();
    expect(await trunkNames(t)).to.include.members(['Temp A', 'Temp B']);
    await page.getByRole('button', { name: 'Delete 2 trunks' }).click();
    await page.getByText('Deleted 2 trunks.').waitFor();
    expect(await trunkNames(t)).not.to.include.members(['Temp A']);
    expect(await trunkNames(t)).to.include.members(['Marketing', 'Payments']);
  });

  it('shows a visible focus ring when moving through the page with the keyboard', async () => {
    await page.goto(`${t.url}/panel/trunks`);
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).to.equal('Skip to content');
    await page.keyboard.press('Tab');
    const outline = await page.evaluate(() => {
      const s = getComputedStyle(document.activeElement!);
      return `${s.outlineStyle} ${s.outlineWidth} ${s.outlineColor}`;
    });
    expect(outline).to.equal('solid 3px rgb(255, 191, 71)');
  });

  it('fails when a POST from the signed-in browser carries no CSRF token', async () => {
    const res = await page.request.post(`${t.url}/panel/trunks`, { form: { name: 'No token', allow_any_did_as_source: 'true' }, maxRedirects: 0 });
    expect(res.status()).to.equal(403);
    const replay = await page.request.post(`${t.url}/panel/callbacks/x/replay`, { form: {}, maxRedirects: 0 });
    expect(replay.status()).to.equal(403);
    expect(await trunkNames(t)).not.to.include('No token');
  });

  it('signs out, after which the pages need a new sign-in', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.goto(`${t.url}/panel/dids`);
    expect(new URL(page.url()).pathname).to.equal('/panel/login');
    expect(pageErrors).to.deep.equal([]);
  });
});


