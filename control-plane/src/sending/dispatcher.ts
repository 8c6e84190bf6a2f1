import { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Batcher } from '../db/transaction-batcher';
import type { CallbackRow } from '../callbacks/outbox';
import { CarrierError } from '../connectors/carrier';
import type { CarrierRouter } from '../connectors/carrier-router';
import type { TrunkAccess } from '../trunks/trunk-access';
import type { Metrics } from '../shared/metrics';
import { singleFlight } from '../db/single-flight';
import { PollLoop } from '../shared/poll-loop';
import { CODE } from './message-status';
import type { ClaimedMessage, MessageStore, NewMessage, Outcome } from './message-store';

export interface DispatcherOptions {
  instanceId: string;
  /** How many messages one claim takes. */
  batchSize: number;
  /** Upper bound on submissions waiting for a carrier answer in this instance. */
  maxInFlight: number;
  /** A claimed message not finished within this time is claimed again (by any instance). */
  leaseMs: number;
  pollMs: number;
  /** How long retryable carrier failures are retried before the message fails with code 101. */
  retryWindowMs: number;
  metrics?: Metrics;
}

/**
 * Moves accepted messages to carriers. Work comes from the database (claimed with a lease), so a
 * crash at any point leaves the message claimable again: at-least-once, with the message id stable.
 */
export class Dispatcher {
  private readonly loop: PollLoop;
  private inFlight = 0;
  private idle?: () => void;
  private readonly inFlightIds = new Set<string>();
  private renewTimer?: NodeJS.Timeout;
  /** Set when a tick found the in-flight budget used up: the next finished submission wakes the loop. */
  private starved = false;

  constructor(
    private readonly knex: Knex,
    private readonly store: MessageStore,
    private readonly outcomes: Batcher<Outcome, CallbackRow[]>,
    private readonly router: CarrierRouter,
    private readonly access: TrunkAccess,
    private readonly logger: Logger,
    private readonly opts: DispatcherOptions,
  ) {
    this.loop = new PollLoop(() => this.tick(), opts.pollMs, (err) => this.logger.error({ err }, 'claiming messages failed'));
    this.policyOf = singleFlight((trunkId: string) => trunkId, (trunkId: string) => this.access.policy(trunkId));
  }

  private readonly policyOf: (trunkId: string) => ReturnType<TrunkAccess['policy']>;

  start(): void {
    this.loop.start();
    // Leases are short so a crashed instance's work is picked up quickly; live work keeps its lease.
    this.renewTimer = setInterval(() => void this.renewLeases(), Math.max(100, Math.floor(this.opts.leaseMs / 3)));
  }

  private async renewLeases(): Promise<void> {
    if (this.inFlightIds.size === 0) return;
    const ids = [...this.inFlightIds];
    const until = new Date(Date.now() + this.opts.leaseMs).toISOString();
    try {
      for (let i = 0; i < ids.length; i += 500) {
        await this.knex('messages').whereIn('id', ids.slice(i, i + 500)).where({ lease_owner: this.opts.instanceId, status: 'accepted' }).update({ lease_until: until });
      }
    } catch (err) {
      this.logger.warn({ err }, 'renewing message leases failed');
    }
  }

  async stop(): Promise<void> {
    if (this.renewTimer) clearInterval(this.renewTimer);
    await this.loop.stop();
    if (this.inFlight > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    await this.outcomes.idle();
  }

  /** Called after new messages commit, so they do not wait for the next poll. */
  wake(): void {
    this.loop.wake();
  }

  /** How many more new messages could be leased to this dispatcher now (for a store thread granting leases, see StoreThread). */
  room(): number {
    return this.loop.isRunning ? Math.max(0, this.opts.maxInFlight - this.inFlight) : 0;
  }

  /** A lease for `count` new messages when they fit in the in-flight budget now (MessageStore.handOffTo). */
  leaseFor(count: number): { owner: string; until: string } | undefined {
    if (!this.loop.isRunning || this.inFlight + count > this.opts.maxInFlight) return undefined;
    return { owner: this.opts.instanceId, until: new Date(Date.now() + this.opts.leaseMs).toISOString() };
  }

  /** Committed messages: the ones leased to us are submitted now, the others are claimed by the next tick. */
  offer(messages: NewMessage[], leasedBy: string | undefined): void {
    if (leasedBy !== this.opts.instanceId || !this.loop.isRunning) return this.wake();
    for (const m of messages) void this.process({ ...m, submit_attempts: 0 });
  }

  /** Claims what fits in the in-flight budget; true when it may find more at once. */
  private async tick(): Promise<boolean> {
    const room = this.opts.maxInFlight - this.inFlight;
    if (room <= 0) {
      this.starved = true;
      return false;
    }
    const batch = await this.store.claim(this.knex, this.opts.instanceId, Math.min(room, this.opts.batchSize), this.opts.leaseMs);
    for (const m of batch) void this.process(m);
    return batch.length > 0 && this.inFlight < this.opts.maxInFlight;
  }

  private async process(m: ClaimedMessage): Promise<void> {
    this.inFlight++;
    this.inFlightIds.add(m.id);
    try {
      const outcome = await this.submit(m);
      await this.outcomes.submit(outcome);
    } catch (err) {
      // The lease expires and another pass retries the message; nothing is lost.
      this.logger.error({ err, messageId: m.id }, 'recording a submission outcome failed');
    } finally {
      this.inFlight--;
      this.inFlightIds.delete(m.id);
      if (this.inFlight === 0 && this.idle) this.idle();
      // New messages wake the loop when they commit; a finished submission only has to when the
      // budget held claims back (a claim per submission would cost more than the submission).
      if (this.starved) {
        this.starved = false;
        this.wake();
      }
    }
  }

  private async submit(m: ClaimedMessage): Promise<Outcome> {
    const at = () => new Date().toISOString();
    const policy = await this.policyOf(m.trunk_id);
    if (!policy) return { kind: 'failed', message: m, codeId: CODE.INTERNAL, detail: 'trunk deleted before submission', at: at() };
    if (policy.blocked) return { kind: 'failed', message: m, codeId: CODE.TRUNK_BLOCKED, detail: 'SMS trunk is blocked', at: at() };
    const carrier = this.router.route(m.destination);
    if (!carrier) return { kind: 'failed', message: m, codeId: CODE.NO_ROUTES, detail: `no route for ${m.destination}`, at: at() };
    const timer = this.opts.metrics?.carrierSubmit.startTimer({ connector: carrier.name });
    try {
      const result = await carrier.submit({ messageId: m.id, source: m.source, destination: m.destination, content: m.content });
      timer?.({ result: 'ok' });
      return { kind: 'submitted', message: m, connector: carrier.name, carrierMessageIds: result.carrierMessageIds, at: at() };
    } catch (err) {
      timer?.({ result: 'error' });
      const e = err instanceof CarrierError ? err : new CarrierError(String((err as Error)?.message ?? err), true, CODE.INTERNAL);
      if (!e.retryable) return { kind: 'failed', message: m, codeId: e.codeId ?? CODE.ROUTING_FAILED, detail: e.message, at: at() };
      const age = Date.now() - Date.parse(m.created_at);
      if (age > this.opts.retryWindowMs) return { kind: 'failed', message: m, codeId: CODE.TTL_EXCEEDED, detail: `gave up after ${m.submit_attempts + 1} attempts: ${e.message}`, at: at() };
      const delayMs = Math.min(30_000, 500 * 2 ** Math.min(m.submit_attempts, 6));
      return { kind: 'retry', message: m, nextAttemptAt: new Date(Date.now() + delayMs).toISOString(), detail: e.message };
    }
  }
}
