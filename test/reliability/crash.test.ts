import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase, Database } from '../../control-plane/src/db/database';
import { ensureBuilt } from '../support/build';
import { CallbackReceiver } from '../support/callback-receiver';
import { createPgDatabase } from '../support/platform';
import { startServer, ServerProcess } from '../support/process';
import { basic, bulk, sendSms, single } from '../support/send-client';

/*
 * Suite 1 of the reliability plan: a steady sending load while the control plane is SIGKILLed at
 * random moments, at least 20 times. On SQLite one instance is killed and restarted; on PostgreSQL
 * (TEST_DATABASE_URL) two instances share the database and either one is killed. Clients retry a
 * request cut off by a kill with the same Idempotency-Key, as a careful client does, so every
 * logical request ends with exactly one 201. At the end every accepted message must be final and
 * its callbacks must have reached a real receiver; a repeat must carry the same event id.
 *
 * CRASH_KILLS, CRASH_SEED and CRASH_SENDERS tune a run; the summary line prints the seed.
 */

const TOKEN = 'crash-suite-admin-token-0123456789';
const SECRETS_KEY = 'a3'.repeat(32);
const SOURCE = '12125551234';
const KILLS = Number(process.env.CRASH_KILLS ?? 20);
const SENDERS = Number(process.env.CRASH_SENDERS ?? 4);
const SEED = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
const TYPES = { status: 'outbound_message_callbacks', dlr: 'dlr_event' } as const;

/** mulberry32: a small seeded PRNG, so a failing schedule of kills can be replayed with CRASH_SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Slot {
  name: string;
  env: Record<string, string>;
  server?: ServerProcess;
  /** False from the moment the kill is sent until the replacement prints its URL. */
  up: boolean;
  kills: number;
}

interface LogicalRequest {
  key: string;
  kind: 'single' | 'bulk';
  body: string;
  destinations: string[];
}

describe('reliability: SIGKILL under a steady load loses nothing', function () {
  this.timeout(600_000);
  const pgServer = process.env.TEST_DATABASE_URL || undefined;
  const label = pgServer ? 'postgres x2' : 'sqlite x1';
  const random = prng(SEED);
  const dirs: string[] = [];
  const slots: Slot[] = [];
  let rx: CallbackReceiver | undefined;
  let pg: { url: string; drop(): Promise<void> } | undefined;
  let db: Database | undefined;

  before(() => ensureBuilt());

  after(async () => {
    for (const s of slots) {
      if (s.server && s.server.child.exitCode === null && s.server.child.signalCode === null) {
        s.server.child.kill('SIGKILL');
        await s.server.exited;
      }
    }
    await db?.close();
    await rx?.stop();
    await pg?.drop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it(`keeps every 201 through ${KILLS} SIGKILLs (${label}): each accepted message ends final with its callbacks delivered`, async () => {
    const started = Date.now();
    rx = await new CallbackReceiver().start();
    pg = pgServer ? await createPgDatabase(pgServer) : undefined;
    const sharedDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sms-out-crash-'));
    dirs.push(sharedDir);
    const common: Record<string, string> = {
      ADMIN_TOKEN: TOKEN,
      SECRETS_KEY,
      CALLBACK_ALLOW_CIDRS: '127.0.0.0/8',
      SIMULATOR_RECEIPT_DELAY_MS: '300',
      // Short leases so a killed instance's claims are taken over within seconds; the callback
      // lease is max(LEASE_SECONDS, 3 x CALLBACK_TIMEOUT_MS) = 2.1 s.
      LEASE_SECONDS: '2',
      CALLBACK_TIMEOUT_MS: '700',
      CALLBACK_CONCURRENCY_PER_ENDPOINT: '32',
      LOG_LEVEL: 'warn',
    };
    for (const name of pg ? ['a', 'b'] : ['a']) {
      const dataDir = pg ? fs.mkdtempSync(path.join(os.tmpdir(), `sms-out-crash-${name}-`)) : sharedDir;
      if (pg) dirs.push(dataDir);
      slots.push({ name, env: { ...common, DATA_DIR: dataDir, ...(pg ? { DATABASE_URL: pg.url } : {}) }, up: false, kills: 0 });
    }
    // One at a time the first time, so the migrations run once.
    for (const s of slots) {
      s.server = await startServer(s.env);
      s.up = true;
    }
    db = await openDatabase(pg ? pg.url : `sqlite://${path.join(sharedDir, 'trunks.sqlite3')}`, { migrate: false });

    const admin = async (method: string, p: string, body?: unknown): Promise<any> => {
      const res = await fetch(slots[0]!.server!.url + p, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/vnd.api+json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`);
      return res.json();
    };
    await admin('POST', '/v1/dids', { data: { type: 'dids', attributes: { number: SOURCE } } });
    const trunk = await admin('POST', '/v1/sms_trunks', { data: { type: 'sms_trunks', attributes: { name: 'Crash', callback_url: rx.url, dlr_events: true } } });
    const c = (await admin('GET', `/v1/sms_trunks/${trunk.data.id}/credentials`)).data.attributes;
    const auth = basic(c.username, c.password);

    // ------------------------------------------------------------ the load
    const accepted = new Map<string, string[]>(); // idempotency key → message ids of its 201
    const unexpected: string[] = [];
    let requests = 0;
    let attempts = 0;
    let cutOff = 0;
    let replayed = 0;
    let sending = true;
    const liveUrl = () => {
      const live = slots.filter((s) => s.up && s.server);
      return live.length ? live[Math.floor(random() * live.length)]!.server!.url : undefined;
    };
    // Destinations end in 1-7 (delivered), 0 (undeliverable), 9 (expired) or 8 (refused at submit: failed, no DLR).
    const destination = (k: number, i: number, j: number) => `1555${k}${String(i).padStart(6, '0')}${j}${[1, 2, 3, 4, 5, 6, 7, 0, 9, 8][Math.floor(random() * 10)]}`;
    const logical = (k: number, i: number): LogicalRequest => {
      const key = `crash-${k}-${i}`;
      // Every sixth request is a 2-part message, so multipart receipts are in flight too.
      const content = `crash ${key}${i % 6 === 0 ? ` ${'x'.repeat(170)}` : ''}`;
      if (random() < 0.2) {
        const destinations = Array.from({ length: 2 + Math.floor(random() * 4) }, (_, j) => destination(k, i, j));
        return { key, kind: 'bulk', destinations, body: bulk({ destination: destinations, source: SOURCE, content }) };
      }
      const destinations = [destination(k, i, 0)];
      return { key, kind: 'single', destinations, body: single({ destination: destinations[0], source: SOURCE, content }) };
    };
    /** Sends one logical request until it gets its 201, retrying a cut-off attempt with the same key. */
    const deliver = async (req: LogicalRequest): Promise<void> => {
      for (let tries = 0; ; tries++) {
        if (tries > 600) throw new Error(`request ${req.key} got no 201 after ${tries} attempts`);
        const url = liveUrl();
        if (!url) {
          await sleep(20);
          continue;
        }
        attempts++;
        try {
          const r = await sendSms(url, auth, req.body, { path: req.kind === 'single' ? '/outbound_messages' : '/bulk_outbound_messages', headers: { 'idempotency-key': req.key } });
          if (r.status === 201) {
            const ids: string[] = req.kind === 'single' ? [r.body.data.id] : r.body.data.attributes.message_ids;
            const before = accepted.get(req.key);
            if (before && JSON.stringify(before) !== JSON.stringify(ids)) unexpected.push(`${req.key}: a replay answered other ids`);
            accepted.set(req.key, ids);
            if (r.headers['idempotent-replayed'] === 'true') replayed++;
            return;
          }
          unexpected.push(`${req.key}: ${r.status} ${r.text.slice(0, 200)}`);
        } catch {
          cutOff++; // connection refused or cut by a kill: no answer, so the same key is sent again
        }
        await sleep(30);
      }
    };
    const sender = async (k: number) => {
      for (let i = 0; sending; i++) {
        requests++;
        await deliver(logical(k, i));
        await sleep(Math.floor(random() * 15));
      }
    };
    const senders = Array.from({ length: SENDERS }, (_, k) => sender(k));

    // ------------------------------------------------------------ the kills
    let kills = 0;
    try {
      while (kills < KILLS) {
        await sleep(300 + Math.floor(random() * 1200));
        const slot = slots[Math.floor(random() * slots.length)]!;
        slot.up = false;
        slot.server!.child.kill('SIGKILL');
        const code = await slot.server!.exited;
        expect(code, `${slot.name} died by the kill`).to.equal('SIGKILL');
        kills++;
        slot.kills++;
        await sleep(Math.floor(random() * 300));
        slot.server = await startServer(slot.env);
        slot.up = true;
      }
      await sleep(1000);
    } finally {
      sending = false;
      await Promise.all(senders);
    }
    const loadEndedAt = Date.now();

    // ------------------------------------------------------------ the reckoning
    const ids = [...accepted.values()].flat();
    const idSet = new Set(ids);
    const want = async () => {
      const rows: Array<{ id: string; status: string }> = await db!.knex('messages').select('id', 'status');
      return rows;
    };
    const received = () => {
      const byKey = new Map<string, Set<string>>();
      for (const r of rx!.received) {
        const k = `${r.json?.data?.id}/${r.json?.data?.type}`;
        byKey.set(k, (byKey.get(k) ?? new Set()).add(String(r.headers['webhook-id'])));
      }
      return byKey;
    };
    const FINAL = new Set(['failed', 'delivered', 'undeliverable', 'expired', 'rejected', 'deleted', 'unknown']);
    let rows: Array<{ id: string; status: string }> = [];
    let missing: string[] = [];
    let unfinished: string[] = [];
    for (const deadline = Date.now() + 120_000; ; ) {
      rows = await want();
      const byKey = received();
      const statusOf = new Map(rows.map((r) => [r.id, r.status]));
      unfinished = ids.filter((id) => !FINAL.has(statusOf.get(id) ?? 'absent'));
      missing = ids.flatMap((id) => {
        const need = statusOf.get(id) === 'failed' ? [TYPES.status] : [TYPES.status, TYPES.dlr];
        return need.filter((type) => !byKey.has(`${id}/${type}`)).map((type) => `${id}/${type} (${statusOf.get(id) ?? 'not in the database'})`);
      });
      // The receiver can have a callback before its attempt is recorded (the next group commit after
      // the answer; or, when the instance died in between, after its lease runs out and it is sent again).
      const [{ n: pending }] = await db.knex('callbacks').whereNot('state', 'delivered').count({ n: '*' });
      if ((unfinished.length === 0 && missing.length === 0 && Number(pending) === 0) || Date.now() > deadline) break;
      await sleep(250);
    }
    const drainMs = Date.now() - loadEndedAt;

    // Duplicates are allowed only as the documented at-least-once repeat: same event id, same body.
    const byKey = received();
    const changedIds = [...byKey].filter(([, eventIds]) => eventIds.size !== 1).map(([k, e]) => `${k}: ${[...e].join(', ')}`);
    const badMeta = rx.received.filter((r) => r.json?.meta?.event_id !== r.headers['webhook-id']).length;
    const unique = byKey.size;
    const duplicates = rx.received.length - unique;
    // Every logical request got exactly one set of messages: none lost, none created twice.
    const orphans = rows.filter((r) => !idSet.has(r.id)).map((r) => r.id);
    const perKey = await db.knex('messages').select('content').count({ n: '*' }).groupBy('content');
    const countByKey = new Map(perKey.map((r: any) => [String(r.content).split(' ')[1], Number(r.n)]));
    const wrongCounts = [...accepted].filter(([key, got]) => countByKey.get(key) !== got.length).map(([key, got]) => `${key}: ${countByKey.get(key)} stored, ${got.length} answered`);
    const twice = await db.knex('message_events').select('message_id', 'type').count({ n: '*' }).whereIn('type', ['submitted', 'final', 'failed']).groupBy('message_id', 'type').havingRaw('count(*) > 1');
    const undelivered = await db.knex('callbacks').whereNot('state', 'delivered').select('id', 'message_id', 'state', 'attempts');
    // Receipts for carrier ids no part carries: a submission the carrier took whose outcome was never
    // committed (killed in between), so the message went to the carrier again: the documented duplicate.
    const [{ n: resubmitted }] = await db
      .knex('pending_receipts')
      .leftJoin('message_parts', function () {
        this.on('message_parts.connector', '=', 'pending_receipts.connector').andOn('message_parts.carrier_message_id', '=', 'pending_receipts.carrier_message_id');
      })
      .whereNull('message_parts.message_id')
      .count({ n: '*' });

    // When something is left over, say where it is stuck: that is the first thing to look at.
    const diagnosis: string[] = [];
    if (unfinished.length || missing.length) {
      const stuck = unfinished.slice(0, 400);
      const byStatus = await db.knex('messages').whereIn('id', stuck).select('status').count({ n: '*' }).groupBy('status');
      diagnosis.push(`unfinished by status: ${byStatus.map((r: any) => `${r.status}=${r.n}`).join(' ')}`);
      const parked = await db.knex('pending_receipts').count({ n: '*' });
      const parkedButMapped = await db
        .knex('pending_receipts')
        .join('message_parts', function () {
          this.on('message_parts.connector', 'pending_receipts.connector').andOn('message_parts.carrier_message_id', 'pending_receipts.carrier_message_id');
        })
        .count({ n: '*' });
      diagnosis.push(`pending_receipts=${parked[0]!.n} of which already mapped to a part=${parkedButMapped[0]!.n}`);
      const openParts = await db.knex('message_parts').whereIn('message_id', stuck).whereNull('status').count({ n: '*' });
      diagnosis.push(`parts without a receipt among the first ${stuck.length} unfinished=${openParts[0]!.n}`);
      const cbStates = await db.knex('callbacks').select('state').count({ n: '*' }).groupBy('state');
      diagnosis.push(`callbacks by state: ${cbStates.map((r: any) => `${r.state}=${r.n}`).join(' ')}`);
      diagnosis.push(`first missing: ${missing.slice(0, 5).join(', ')}`);
      for (const s of slots) fs.writeFileSync(path.join(os.tmpdir(), `crash-${s.name}.log`), s.server!.output());
      // eslint-disable-next-line no-console
      console.log(`      diagnosis:\n        ${diagnosis.join('\n        ')}`);
    }

    // Graceful stop of the survivors: SIGTERM drains and exits 0.
    const exitCodes: Array<number | string> = [];
    for (const s of slots) {
      s.up = false;
      s.server!.child.kill('SIGTERM');
      exitCodes.push(await s.server!.exited);
    }

    const elapsed = ((Date.now() - started) / 1000).toFixed(1);
    const perSlot = slots.map((s) => `${s.name}=${s.kills}`).join(' ');
    // eslint-disable-next-line no-console
    console.log(
      `      crash[${label}]: seed=${SEED} kills=${kills} (${perSlot}) requests=${requests} attempts=${attempts} cut_off=${cutOff} replayed=${replayed} ` +
        `accepted=${ids.length} final=${ids.length - unfinished.length} callbacks=${unique} (+${duplicates} repeats) carrier_resubmits>=${resubmitted} missing=${missing.length} lost=${unfinished.length + missing.length} ` +
        `drain=${(drainMs / 1000).toFixed(1)}s elapsed=${elapsed}s`,
    );

    expect(kills).to.be.at.least(20 > KILLS ? KILLS : 20);
    expect(ids.length, 'messages accepted under the load').to.be.greaterThan(kills * 5);
    expect(unexpected, 'answers other than 201').to.deep.equal([]);
    expect(idSet.size, 'every 201 names its own message ids').to.equal(ids.length);
    expect(unfinished.slice(0, 20), `${unfinished.length} accepted messages without a final status (first 20)`).to.deep.equal([]);
    expect(missing.slice(0, 20), `${missing.length} callbacks that never reached the receiver (first 20)`).to.deep.equal([]);
    expect(orphans, 'messages stored without a 201 for them').to.deep.equal([]);
    expect(wrongCounts, 'idempotent retries that stored a message twice or not at all').to.deep.equal([]);
    expect(twice, 'messages submitted or finalised twice').to.deep.equal([]);
    expect(undelivered, 'callback rows not delivered').to.deep.equal([]);
    expect(changedIds, 'a repeated callback with another event id').to.deep.equal([]);
    expect(badMeta, 'callbacks whose meta.event_id differs from webhook-id').to.equal(0);
    expect(exitCodes, 'exit codes after SIGTERM').to.deep.equal(slots.map(() => 0));
  });
});
