import { Knex } from 'knex';
import type { Logger } from 'pino';
import { claimDue } from '../db/lease-claim';
import { singleFlight } from '../db/single-flight';
import { CommitGroup, TransactionBatcher } from '../db/transaction-batcher';
import type { CallbackRow } from './outbox';
import { PollLoop } from '../shared/poll-loop';
import type { RetryPolicy } from './retry-policy';
import { AttemptRecorder, AttemptResult, recordAttempts } from './attempts';
import type { Metrics } from '../shared/metrics';
import { CallbackPoster } from './callback-poster';
import type { PostResult } from './callback-http';

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
  /** CALLBACK_ALLOW_CIDRS: private ranges callbacks may still go to (see SsrfGuard). */
  allowCidrs: string[];
  /** POST from a worker thread (default true; see CallbackPoster). */
  thread?: boolean;
  /** Record attempts in the transactions of this group (see CommitGroup). */
  commitGroup?: CommitGroup;
  /** Where attempts are recorded instead (the store thread's batcher, see StoreThread); default: a batcher of our own. */
  recorder?: AttemptRecorder;
}

/**
 * Deliveries handed to the poster per endpoint, as a multiple of the connections it keeps there.
 * A delivery holds its place from the hand-off until its answer is back on this thread, a cycle
 * that includes a turn of this (busy) event loop: at 4 deliveries per connection the cycle capped
 * callbacks near 1,600 a second under load (docs/PERFORMANCE.md, eighth pass), and rows the worker had
 * no room for were then claimed back from the database, which cost more again.
 */
const HANDOFF_DEPTH = 16;

/**
 * Delivers outbox rows to callback URLs: claims due rows with a lease, POSTs the stored body with
 * Standard Webhooks signatures, and records every attempt. Any 2xx is success; everything else is
 * retried by the policy until its window ends, then the row is dead-lettered (replayable).
 */
export class CallbackWorker {
  private readonly loop: PollLoop;
  private inFlight = 0;
  private readonly perEndpoint = new Map<string, number>();
  /** Claimed deliveries not started yet, queued per endpoint so starting one never scans the others. */
  private readonly waiting = new Map<string, Array<{ row: CallbackRow; leaseUntilMs: number }>>();
  private waitingCount = 0;
  /** Set when a tick had no room to claim: the next finished delivery wakes the loop. */
  private starved = false;
  private readonly poster: CallbackPoster;
  private readonly results: AttemptRecorder;
  private idle?: () => void;

  private readonly secrets: (trunkId: string) => Promise<string[]>;

  constructor(
    private readonly knex: Knex,
    secrets: (trunkId: string) => Promise<string[]>,
    private readonly logger: Logger,
    private readonly opts: CallbackWorkerOptions,
  ) {
    this.secrets = singleFlight((trunkId: string) => trunkId, secrets);
    // Connections are reused per endpoint; the SSRF guard judges every address connected to.
    this.poster = new CallbackPoster({ allowCidrs: opts.allowCidrs, perEndpoint: opts.perEndpoint, timeoutMs: opts.timeoutMs, thread: opts.thread }, logger);
    // Attempts touch only callback rows already committed and leased to us: they write alongside a round's other batches.
    this.results =
      opts.recorder ?? new TransactionBatcher(knex, (trx, items: AttemptResult[]) => recordAttempts(trx, items, { instanceId: opts.instanceId, policy: opts.policy }), 500, undefined, opts.commitGroup, true);
    this.loop = new PollLoop(() => this.tick(), opts.pollMs, (err) => this.logger.error({ err }, 'claiming callbacks failed'));
  }

  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
    this.waiting.clear();
    this.waitingCount = 0;
    if (this.inFlight > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    await this.results.idle();
    await this.poster.close();
  }

  wake(): void {
    this.loop.wake();
  }

  /** How many more outbox rows could be leased to this worker now (for a store thread granting leases, see StoreThread). */
  room(): number {
    return this.loop.isRunning ? Math.max(0, this.opts.maxInFlight - this.inFlight - this.waitingCount) : 0;
  }

  /** A lease for `count` new outbox rows when they fit next to the deliveries running and waiting (CallbackOutbox.handOffTo). */
  leaseFor(count: number): { owner: string; until: string } | undefined {
    if (!this.loop.isRunning || this.inFlight + this.waitingCount + count > this.opts.maxInFlight) return undefined;
    return { owner: this.opts.instanceId, until: new Date(Date.now() + this.opts.leaseMs).toISOString() };
  }

  /** Committed outbox rows: the ones leased to us start now, the others are claimed by the next tick. */
  offer(rows: CallbackRow[]): void {
    let unclaimed = false;
    const endpoints = new Set<string>();
    for (const row of rows) {
      if (row.lease_owner !== this.opts.instanceId || !row.lease_until || !this.loop.isRunning) {
        unclaimed = true;
        continue;
      }
      const endpoint = endpointOf(row.url);
      this.enqueue(endpoint, { row, leaseUntilMs: Date.parse(row.lease_until) });
      endpoints.add(endpoint);
    }
    for (const endpoint of endpoints) this.pump(endpoint);
    if (unclaimed) this.wake();
  }

  private enqueue(endpoint: string, w: { row: CallbackRow; leaseUntilMs: number }): void {
    const queue = this.waiting.get(endpoint);
    if (queue) queue.push(w);
    else this.waiting.set(endpoint, [w]);
    this.waitingCount++;
  }

  /** Claims what fits next to the deliveries already running or waiting; true when it may find more at once. */
  private async tick(): Promise<boolean> {
    const room = this.opts.maxInFlight - this.inFlight - this.waitingCount;
    if (room <= 0) {
      this.starved = true;
      return false;
    }
    const rows = await this.claim(Math.min(room, this.opts.batchSize));
    const leaseUntilMs = Date.now() + this.opts.leaseMs;
    for (const row of rows) this.enqueue(endpointOf(row.url), { row, leaseUntilMs });
    for (const endpoint of [...this.waiting.keys()]) this.pump(endpoint);
    return rows.length > 0;
  }

  private claim(limit: number): Promise<CallbackRow[]> {
    return claimDue<CallbackRow>(this.knex, 'callbacks', { pending: { state: 'pending' }, owner: this.opts.instanceId, limit, leaseMs: this.opts.leaseMs });
  }

  /**
   * Starts an endpoint's waiting deliveries while it has room; ones whose lease is nearly over are
   * left for a fresh claim. The poster keeps at most `perEndpoint` requests out per endpoint and
   * holds HANDOFF_DEPTH times as many, so the next request is there as soon as an answer comes.
   */
  private pump(endpoint: string): void {
    const queue = this.waiting.get(endpoint);
    while (queue && queue.length > 0 && (this.perEndpoint.get(endpoint) ?? 0) < this.opts.perEndpoint * HANDOFF_DEPTH && this.inFlight < this.opts.maxInFlight) {
      const w = queue.shift()!;
      this.waitingCount--;
      if (Date.now() > this.sendBy(w.leaseUntilMs)) continue;
      this.perEndpoint.set(endpoint, (this.perEndpoint.get(endpoint) ?? 0) + 1);
      this.inFlight++;
      void this.deliver(w.row, this.sendBy(w.leaseUntilMs)).finally(() => {
        this.inFlight--;
        const n = (this.perEndpoint.get(endpoint) ?? 1) - 1;
        if (n === 0) this.perEndpoint.delete(endpoint);
        else this.perEndpoint.set(endpoint, n);
        if (this.inFlight === 0 && this.idle) this.idle();
        if (!this.loop.isRunning) return;
        this.pump(endpoint);
        // Another endpoint may have been held back by maxInFlight.
        if (this.inFlight === this.opts.maxInFlight - 1) for (const other of this.waiting.keys()) if (other !== endpoint) this.pump(other);
        // New rows arrive by offer() or wake the loop themselves; a finished delivery only has to when
        // room held claims back (a claim per delivery would cost more than the delivery).
        if (this.starved && this.waitingCount < this.opts.batchSize / 2) {
          this.starved = false;
          this.wake();
        }
      });
    }
    if (queue && queue.length === 0) this.waiting.delete(endpoint);
  }

  /** The latest start of a POST that must have its answer (or its timeout) within the lease. */
  private sendBy(leaseUntilMs: number): number {
    return leaseUntilMs - this.opts.timeoutMs - 1000;
  }

  private async deliver(row: CallbackRow, sendBy: number): Promise<void> {
    const attemptedAt = new Date();
    const started = process.hrtime.bigint();
    let result: PostResult;
    try {
      // Signed by the poster as the request starts (on the callback thread), with the trunk's active secrets.
      const secrets = await this.secrets(row.trunk_id);
      result = await this.poster.post(row.url, row.body, NO_HEADERS, sendBy, { id: row.id, secrets });
    } catch (err) {
      result = { error: String((err as Error)?.message ?? err).slice(0, 250) };
    }
    // Never sent (no connection came free in time): no attempt to record, and the row is claimed again once its lease ends.
    if (result.notSent) return;
    const durationMs = Number((process.hrtime.bigint() - started) / 1_000_000n);
    // The endpoint's slot is free once the receiver has answered: the attempt is recorded by the next
    // group commit, under the lease we still hold (so nobody sends it again meanwhile); stop() waits for it.
    const attempt: AttemptResult = { row: { id: row.id, kind: row.kind, attempts: row.attempts, give_up_at: row.give_up_at }, attemptedAt: attemptedAt.toISOString(), durationMs, ...result };
    this.results.submit(attempt).then(
      (recorded) => {
        this.opts.metrics?.callbackAttempts.inc({ outcome: recorded, kind: row.kind });
        if (recorded === 'delivered' && row.kind === 'dlr') this.opts.metrics?.receiptToCallback.observe((Date.now() - Date.parse(row.occurred_at)) / 1000);
      },
      (err) => this.logger.error({ err, callbackId: row.id }, 'recording a callback attempt failed'),
    );
  }
}


const NO_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;

function endpointOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}
