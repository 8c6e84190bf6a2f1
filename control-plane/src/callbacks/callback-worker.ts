import http from 'node:http';
import https from 'node:https';
import { Knex } from 'knex';
import type { Logger } from 'pino';
import { nowIso } from '../db/database';
import { claimDue } from '../db/lease-claim';
import { TransactionBatcher } from '../db/transaction-batcher';
import type { CallbackRow } from './outbox';
import { PollLoop } from '../shared/poll-loop';
import { classifyAttempt, nextAttemptAt, RetryPolicy } from './retry-policy';
import { signCallback } from './signing';
import type { Metrics } from '../shared/metrics';
import type { SsrfGuard } from './ssrf-guard';

export interface CallbackWorkerOptions {
  instanceId: string;
  policy: RetryPolicy;
  batchSize: number;
  /** Concurrent deliveries in this instance, over all endpoints. */
  maxInFlight: number;
  /** Concurrent deliveries to one endpoint (scheme://host:port). */
  perEndpoint: number;
  timeoutMs: number;
  leaseMs: number;
  pollMs: number;
  metrics?: Metrics;
}

interface AttemptResult {
  row: CallbackRow;
  attemptedAt: string;
  durationMs: number;
  statusCode?: number;
  error?: string;
  retryAfter?: string;
}

/**
 * Delivers outbox rows to callback URLs: claims due rows with a lease, POSTs the stored body with
 * Standard Webhooks signatures, and records every attempt. Any 2xx is success; everything else is
 * retried by the policy until its window ends, then the row is dead-lettered (replayable).
 */
export class CallbackWorker {
  private readonly loop: PollLoop;
  private inFlight = 0;
  private readonly perEndpoint = new Map<string, number>();
  private readonly waiting: Array<{ row: CallbackRow; leaseUntilMs: number }> = [];
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private readonly results: TransactionBatcher<AttemptResult>;
  private idle?: () => void;

  constructor(
    private readonly knex: Knex,
    private readonly secrets: (trunkId: string) => Promise<string[]>,
    guard: SsrfGuard,
    private readonly logger: Logger,
    private readonly opts: CallbackWorkerOptions,
  ) {
    // Connections are reused per endpoint; the guarded lookup runs on every new connection.
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: opts.perEndpoint, lookup: guard.lookup });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: opts.perEndpoint, lookup: guard.lookup });
    this.results = new TransactionBatcher(knex, (trx, items) => this.record(trx, items), 500);
    this.loop = new PollLoop(() => this.tick(), opts.pollMs, (err) => this.logger.error({ err }, 'claiming callbacks failed'));
  }

  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
    this.waiting.length = 0;
    if (this.inFlight > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    await this.results.idle();
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  wake(): void {
    this.loop.wake();
  }

  /** Claims what fits next to the deliveries already running or waiting; true when it may find more at once. */
  private async tick(): Promise<boolean> {
    const room = this.opts.maxInFlight - this.inFlight - this.waiting.length;
    if (room <= 0) return false;
    const rows = await this.claim(Math.min(room, this.opts.batchSize));
    const leaseUntilMs = Date.now() + this.opts.leaseMs;
    for (const row of rows) this.waiting.push({ row, leaseUntilMs });
    this.pump();
    return rows.length > 0;
  }

  private claim(limit: number): Promise<CallbackRow[]> {
    return claimDue<CallbackRow>(this.knex, 'callbacks', { pending: { state: 'pending' }, owner: this.opts.instanceId, limit, leaseMs: this.opts.leaseMs });
  }

  /** Starts waiting deliveries while their endpoint has room; ones whose lease is nearly over are left for a fresh claim. */
  private pump(): void {
    for (let i = 0; i < this.waiting.length; ) {
      const w = this.waiting[i]!;
      if (Date.now() > w.leaseUntilMs - this.opts.timeoutMs - 1000) {
        this.waiting.splice(i, 1);
        continue;
      }
      const endpoint = endpointOf(w.row.url);
      const busy = this.perEndpoint.get(endpoint) ?? 0;
      if (busy >= this.opts.perEndpoint || this.inFlight >= this.opts.maxInFlight) {
        i++;
        continue;
      }
      this.waiting.splice(i, 1);
      this.perEndpoint.set(endpoint, busy + 1);
      this.inFlight++;
      void this.deliver(w.row).finally(() => {
        this.inFlight--;
        const n = (this.perEndpoint.get(endpoint) ?? 1) - 1;
        if (n === 0) this.perEndpoint.delete(endpoint);
        else this.perEndpoint.set(endpoint, n);
        if (this.inFlight === 0 && this.idle) this.idle();
        if (this.loop.isRunning) {
          this.pump();
          this.wake();
        }
      });
    }
  }

  private async deliver(row: CallbackRow): Promise<void> {
    const attemptedAt = new Date();
    const started = process.hrtime.bigint();
    let result: Omit<AttemptResult, 'row' | 'attemptedAt' | 'durationMs'>;
    try {
      const secrets = await this.secrets(row.trunk_id);
      const headers = signCallback({ id: row.id, timestamp: attemptedAt, body: row.body, secrets });
      result = await this.post(row.url, row.body, headers);
    } catch (err) {
      result = { error: String((err as Error)?.message ?? err).slice(0, 250) };
    }
    const durationMs = Number((process.hrtime.bigint() - started) / 1_000_000n);
    try {
      await this.results.submit({ row, attemptedAt: attemptedAt.toISOString(), durationMs, ...result });
    } catch (err) {
      this.logger.error({ err, callbackId: row.id }, 'recording a callback attempt failed');
    }
  }

  private post(url: string, body: string, headers: Record<string, string>): Promise<{ statusCode: number; retryAfter?: string }> {
    return new Promise((resolve, reject) => {
      const u = new URL(url);
      const lib = u.protocol === 'https:' ? https : http;
      const req = lib.request(
        u,
        {
          method: 'POST',
          agent: u.protocol === 'https:' ? this.httpsAgent : this.httpAgent,
          headers: {
            'content-type': 'application/vnd.api+json',
            'content-length': Buffer.byteLength(body),
            'user-agent': 'sms-out-trunk-platform/callbacks',
            ...headers,
          },
          timeout: this.opts.timeoutMs,
        },
        (res) => {
          // The body is read (so the connection can be reused) but never interpreted: any 2xx is success.
          res.resume();
          res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, retryAfter: header(res.headers['retry-after']) }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`timed out after ${this.opts.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  private async record(trx: Knex.Transaction, items: AttemptResult[]): Promise<void[]> {
    for (const r of items) {
      const outcome = classifyAttempt({ status: r.statusCode, error: r.error });
      const attempts = r.row.attempts + 1;
      // A replay moves give_up_at; the retry window is measured back from it, so a replayed callback gets a whole new window.
      const firstAttemptAt = new Date(Date.parse(r.row.give_up_at) - this.opts.policy.maxAgeMs);
      let update: Record<string, unknown>;
      if (outcome === 'success') {
        update = { state: 'delivered', delivered_at: nowIso() };
      } else {
        const next = nextAttemptAt({
          policy: this.opts.policy,
          attempt: attempts,
          firstAttemptAt,
          now: new Date(),
          retryAfterHeader: r.retryAfter,
        });
        const giveUpAt = Date.parse(r.row.give_up_at);
        update = next && next.getTime() <= giveUpAt ? { state: 'pending', next_attempt_at: next.toISOString() } : { state: 'dead' };
      }
      await trx('callbacks')
        .where({ id: r.row.id, lease_owner: this.opts.instanceId })
        .update({
          ...update,
          attempts,
          first_attempt_at: r.row.attempts === 0 ? r.attemptedAt : trx.raw('first_attempt_at'),
          last_status_code: r.statusCode ?? null,
          last_error: r.error ?? null,
          lease_owner: null,
          lease_until: null,
        });
      const recorded = outcome === 'success' ? 'delivered' : update.state === 'dead' ? 'dead' : 'retry';
      this.opts.metrics?.callbackAttempts.inc({ outcome: recorded, kind: r.row.kind });
      if (recorded === 'delivered' && r.row.kind === 'dlr') this.opts.metrics?.receiptToCallback.observe((Date.now() - Date.parse(r.row.occurred_at)) / 1000);
      await trx('callback_attempts').insert({
        callback_id: r.row.id,
        attempted_at: r.attemptedAt,
        duration_ms: r.durationMs,
        status_code: r.statusCode ?? null,
        error: r.error ?? null,
        outcome: outcome === 'success' ? 'delivered' : update.state === 'dead' ? 'dead' : 'retry',
      });
    }
    return items.map(() => undefined);
  }
}

const header = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

function endpointOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}
