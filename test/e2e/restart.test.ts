import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureBuilt } from '../support/build';
import { CallbackReceiver } from '../support/callback-receiver';
import { createPgDatabase } from '../support/platform';
import { startServer, ServerProcess } from '../support/process';
import { basic, sendSms, single } from '../support/send-client';

const TOKEN = 'restart-test-admin-token-0123456789';

async function admin(url: string, method: string, p: string, body?: unknown) {
  const res = await fetch(url + p, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/vnd.api+json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return res.json();
}

describe('restart mid-flight', function () {
  this.timeout(90_000);
  let dataDir: string;
  let rx: CallbackReceiver;
  let server: ServerProcess | undefined;
  let dropDb: (() => Promise<void>) | undefined;
  before(() => ensureBuilt());
  beforeEach(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sms-out-restart-'));
    rx = await new CallbackReceiver().start();
  });
  afterEach(async () => {
    if (server && server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    await rx.stop();
    await dropDb?.();
    dropDb = undefined;
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('loses nothing when the process is killed with SIGKILL while messages are in flight: every 201 gets its callbacks after a restart', async () => {
    const pg = process.env.TEST_DATABASE_URL ? await createPgDatabase(process.env.TEST_DATABASE_URL) : undefined;
    dropDb = pg?.drop;
    const env = { ...(pg ? { DATABASE_URL: pg.url } : {}), DATA_DIR: dataDir, ADMIN_TOKEN: TOKEN, CALLBACK_ALLOW_CIDRS: '127.0.0.0/8', SIMULATOR_RECEIPT_DELAY_MS: '400', LEASE_SECONDS: '3', CALLBACK_TIMEOUT_MS: '1000' };
    server = await startServer(env);
    await admin(server.url, 'POST', '/v1/dids', { data: { type: 'dids', attributes: { number: '12125551234' } } });
    const trunk = await admin(server.url, 'POST', '/v1/sms_trunks', { data: { type: 'sms_trunks', attributes: { name: 'App', callback_url: rx.url, dlr_events: true } } });
    const c = (await admin(server.url, 'GET', `/v1/sms_trunks/${trunk.data.id}/credentials`)).data.attributes;
    const auth = basic(c.username, c.password);

    const accepted: string[] = [];
    let sending = true;
    // Four senders in a loop, so the kill lands while submissions, carrier hand-offs and callbacks are all in progress.
    const sender = async (k: number) => {
      for (let i = 0; sending && i < 500; i++) {
        try {
          const r = await sendSms(server!.url, auth, single({ destination: `1555${k}${String(100_000 + i)}1`, source: '12125551234', content: `msg ${k}/${i}` }));
          if (r.status === 201) accepted.push(r.body.data.id);
        } catch {
          return; // connection cut by the kill: no 201, so nothing was promised
        }
      }
    };
    const senders = [0, 1, 2, 3].map(sender);
    const deadline = Date.now() + 15_000;
    while (rx.received.length < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    server.child.kill('SIGKILL');
    sending = false;
    await Promise.all(senders);
    await server.exited;
    expect(accepted.length, 'some requests got a 201 before the kill').to.be.greaterThan(0);
    const beforeRestart = rx.received.length;

    server = await startServer(env);
    const want = accepted.length * 2;
    const unique = () => new Set(rx.received.map((r) => `${r.json.data.id}/${r.json.data.type}`));
    await rx.waitFor(() => [...unique()].filter((k) => accepted.includes(k.split('/')[0]!)).length >= want, 30_000, `${want} callbacks`);
    const keys = unique();
    const missing = accepted.flatMap((id) => ['outbound_message_callbacks', 'dlr_event'].filter((type) => !keys.has(`${id}/${type}`)).map((type) => `${id}/${type}`));
    expect(missing, 'callbacks missing after restart').to.deep.equal([]);
    // At-least-once: a repeat is recognisable because it carries the same event id.
    const byKey = new Map<string, Set<string>>();
    for (const r of rx.received) {
      const k = `${r.json.data.id}/${r.json.data.type}`;
      byKey.set(k, (byKey.get(k) ?? new Set()).add(String(r.headers['webhook-id'])));
    }
    for (const [k, ids] of byKey) expect(ids.size, `${k} event ids`).to.equal(1);
    // eslint-disable-next-line no-console
    console.log(`      accepted ${accepted.length} before SIGKILL, ${beforeRestart} callbacks before and ${rx.received.length - beforeRestart} after the restart`);
  });
});
