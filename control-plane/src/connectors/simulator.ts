import { randomUUID } from 'node:crypto';
import { analyzeContent } from '../sending/encoding';
import {
  CARRIER_CODE_ROUTING_FAILED,
  Carrier,
  CarrierError,
  ConnectorLogger,
  DeliveryReceipt,
  OutboundSubmission,
  ReceiptHandler,
  ReceiptStatus,
  SubmitResult,
  isFinalReceiptStatus,
} from './carrier';

export type SimulatorOutcome =
  | { readonly kind: 'receipt'; readonly status: ReceiptStatus; readonly errorCode?: string }
  | { readonly kind: 'reject'; readonly message: string; readonly retryable: boolean; readonly codeId: number };

export interface SimulatorRule {
  /** Matches destinations that end with this text. */
  readonly endsWith?: string;
  /** Matches destinations this expression finds a match in. */
  readonly pattern?: RegExp;
  readonly outcome: SimulatorOutcome;
}

/** Destination ending in 0 → UNDELIVERABLE, 9 → EXPIRED, 8 → submit refused with "Routing failed"; any other → DELIVERED. */
export const DEFAULT_SIMULATOR_RULES: readonly SimulatorRule[] = [
  { endsWith: '0', outcome: { kind: 'receipt', status: 'UNDELIVERABLE', errorCode: '001' } },
  { endsWith: '9', outcome: { kind: 'receipt', status: 'EXPIRED', errorCode: '002' } },
  { endsWith: '8', outcome: { kind: 'reject', message: 'Routing failed', retryable: false, codeId: CARRIER_CODE_ROUTING_FAILED } },
];

const DELIVERED: SimulatorOutcome = { kind: 'receipt', status: 'DELIVERED', errorCode: '000' };

const STAT_TEXT: Record<ReceiptStatus, string> = {
  DELIVERED: 'DELIVRD',
  UNDELIVERABLE: 'UNDELIV',
  EXPIRED: 'EXPIRED',
  REJECTED: 'REJECTD',
  DELETED: 'DELETED',
  UNKNOWN: 'UNKNOWN',
  ACCEPTED: 'ACCEPTD',
  ENROUTE: 'ENROUTE',
};

export interface SimulatorCarrierOptions {
  /** @default 'simulator' */
  readonly name?: string;
  /** Checked in order; the first match decides. @default DEFAULT_SIMULATOR_RULES */
  readonly rules?: readonly SimulatorRule[];
  /** From submit() resolving to the receipt. @default 200 */
  readonly receiptDelayMs?: number;
  /** Extra latency before submit() resolves, like a slow carrier. @default 0 */
  readonly delayMs?: number;
  /** Push every receipt twice, as SMSCs do after a lost deliver_sm_resp. @default false */
  readonly duplicateReceipts?: boolean;
  /** Random receipt delays between 0 and twice receiptDelayMs, so receipts arrive out of order. @default false */
  readonly reorder?: boolean;
  /** Wait before pushing a receipt again whose handler rejected. @default 500 */
  readonly redeliveryDelayMs?: number;
  /** Pushes of one receipt after the first before giving up. @default 20 */
  readonly maxRedeliveries?: number;
  /** @default Math.random */
  readonly random?: () => number;
  readonly logger?: ConnectorLogger;
}

/**
 * The embedded carrier: no network, deterministic outcomes by destination, receipts a little
 * later. It behaves like an SMSC where the platform can tell: one id per segment, receipts that
 * are pushed again when the handler fails, and (on request) duplicates and reordering.
 */
export class SimulatorCarrier implements Carrier {
  readonly name: string;
  private readonly rules: readonly SimulatorRule[];
  private readonly receiptDelayMs: number;
  private readonly delayMs: number;
  private readonly redeliveryDelayMs: number;
  private readonly maxRedeliveries: number;
  private readonly random: () => number;
  private handler?: ReceiptHandler;
  private running = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly sleepers = new Set<() => void>();

  constructor(private readonly options: SimulatorCarrierOptions = {}) {
    this.name = options.name ?? 'simulator';
    this.rules = options.rules ?? DEFAULT_SIMULATOR_RULES;
    this.receiptDelayMs = options.receiptDelayMs ?? 200;
    this.delayMs = options.delayMs ?? 0;
    this.redeliveryDelayMs = options.redeliveryDelayMs ?? 500;
    this.maxRedeliveries = options.maxRedeliveries ?? 20;
    this.random = options.random ?? Math.random;
    for (const [key, value] of Object.entries({ receiptDelayMs: this.receiptDelayMs, delayMs: this.delayMs, redeliveryDelayMs: this.redeliveryDelayMs })) {
      if (!(value >= 0)) throw new RangeError(`Simulator option ${key} must be >= 0, got ${value}`);
    }
  }

  get connected(): boolean {
    return this.running;
  }

  async start(): Promise<void> {
    this.running = true;
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    // Wake submits waiting out delayMs so they reject instead of hanging.
    for (const wake of [...this.sleepers]) wake();
  }

  onReceipt(handler: ReceiptHandler): void {
    this.handler = handler;
  }

  outcomeFor(destination: string): SimulatorOutcome {
    const rule = this.rules.find(
      (r) => (r.endsWith === undefined || destination.endsWith(r.endsWith)) && (r.pattern === undefined || r.pattern.test(destination)),
    );
    return rule?.outcome ?? DELIVERED;
  }

  async submit(msg: OutboundSubmission): Promise<SubmitResult> {
    if (!this.running) throw new CarrierError(`${this.name}: not started`, true);
    if (this.delayMs > 0) await this.sleep(this.delayMs);
    if (!this.running) throw new CarrierError(`${this.name}: stopped while submitting`, true);
    const outcome = this.outcomeFor(msg.destination);
    if (outcome.kind === 'reject') throw new CarrierError(outcome.message, outcome.retryable, outcome.codeId);

    const submittedAt = new Date();
    const ids = Array.from({ length: analyzeContent(msg.content).segments }, () => `sim-${randomUUID()}`);
    for (const id of ids) {
      const receipt = this.receipt(id, outcome.status, outcome.errorCode, submittedAt, msg.content);
      const copies = this.options.duplicateReceipts ? 2 : 1;
      for (let i = 0; i < copies; i++) this.schedule(() => void this.push(receipt, 0), this.nextReceiptDelay() + i);
    }
    return { carrierMessageIds: ids };
  }

  /** After a restart, the receipts of parts submitted earlier are produced again (their outcome follows the same rules). */
  resume(owed: ReadonlyArray<{ carrierMessageId: string; destination: string; content: string }>): void {
    const now = new Date();
    for (const part of owed) {
      const outcome = this.outcomeFor(part.destination);
      if (outcome.kind !== 'receipt') continue;
      const receipt = this.receipt(part.carrierMessageId, outcome.status, outcome.errorCode, now, part.content);
      this.schedule(() => void this.push(receipt, 0), this.nextReceiptDelay());
    }
  }

  private nextReceiptDelay(): number {
    return this.options.reorder ? Math.round(this.random() * 2 * this.receiptDelayMs) : this.receiptDelayMs;
  }

  private receipt(id: string, status: ReceiptStatus, errorCode: string | undefined, submittedAt: Date, content: string): DeliveryReceipt {
    const doneAt = new Date(submittedAt.getTime() + this.receiptDelayMs);
    const err = errorCode ?? '000';
    const delivered = status === 'DELIVERED' ? '001' : '000';
    return {
      carrierMessageId: id,
      status,
      final: isFinalReceiptStatus(status),
      errorCode: err,
      submittedAt: submittedAt.toISOString(),
      doneAt: doneAt.toISOString(),
      raw:
        `id:${id} sub:001 dlvrd:${delivered} submit date:${smppDate(submittedAt)} done date:${smppDate(doneAt)} ` +
        `stat:${STAT_TEXT[status]} err:${err} text:${content.slice(0, 20)}`,
    };
  }

  /** Like an SMSC: a receipt the handler did not take is pushed again later, a bounded number of times. */
  private async push(receipt: DeliveryReceipt, redeliveries: number): Promise<void> {
    if (!this.running) return;
    try {
      if (!this.handler) throw new Error('no receipt handler registered');
      await this.handler({ ...receipt });
    } catch (err) {
      if (!this.running) return;
      if (redeliveries >= this.maxRedeliveries) {
        this.options.logger?.error({ carrier: this.name, carrierMessageId: receipt.carrierMessageId }, 'receipt dropped after too many redeliveries');
        return;
      }
      this.options.logger?.warn(
        { carrier: this.name, carrierMessageId: receipt.carrierMessageId, err: err instanceof Error ? err.message : String(err) },
        'receipt handler failed; pushing it again later',
      );
      this.schedule(() => void this.push(receipt, redeliveries + 1), this.redeliveryDelayMs);
    }
  }

  private schedule(fn: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        this.sleepers.delete(wake);
        resolve();
      };
      this.sleepers.add(wake);
      this.schedule(wake, ms);
    });
  }
}

/** YYMMDDhhmm in UTC, the receipt text's date format. */
function smppDate(d: Date): string {
  return d.toISOString().replace(/\D/g, '').slice(2, 12);
}
