import * as smpp from 'smpp';
import { buildUdh, splitForSmpp } from '../sending/encoding';
import {
  CARRIER_CODE_INTERNAL,
  CARRIER_CODE_ROUTING_FAILED,
  Carrier,
  CarrierError,
  ConnectorLogger,
  DeliveryReceipt,
  OutboundSubmission,
  ReceiptHandler,
  SubmitResult,
} from './carrier';
import { buildReceipt, parseReceiptFields, receiptStatusFromMessageState, receiptStatusFromStat } from './smpp-receipt';
import { TokenBucket } from './token-bucket';
import { DELIVER_SM_RESP, DeliverSmFields, encodeResponse, encodeSubmitSm, SmppLink, SubmitSmFields } from './smpp-wire';

export { parseReceiptText } from './smpp-receipt';

export interface SmppCarrierOptions {
  /** @default `smpp:<host>:<port>` */
  readonly name?: string;
  readonly host: string;
  readonly port: number;
  readonly systemId: string;
  readonly password: string;
  /** @default '' */
  readonly systemType?: string;
  /** Submit PDUs sent and not yet answered. @default 10 */
  readonly windowSize?: number;
  /** Throughput cap for this connection (submit_sm per second, every part counts). @default 100 */
  readonly maxSubmitsPerSecond?: number;
  /** @default 30000 */
  readonly enquireLinkIntervalMs?: number;
  /** First reconnect delay; doubles per failed attempt. @default 500 */
  readonly reconnectInitialDelayMs?: number;
  /** @default 30000 */
  readonly reconnectMaxDelayMs?: number;
  /**
   * How long a message may wait to be written (not bound, window full, throughput cap) from
   * submit(). A message that times out unsent fails with a retryable error and is never written
   * later, so retrying it cannot duplicate it. @default 10000
   */
  readonly submitTimeoutMs?: number;
  /**
   * From writing a submit_sm to its submit_sm_resp. Counted per part from its own write, so a part
   * written just before submitTimeoutMs still gets this long for its answer instead of being
   * abandoned (and retried, i.e. duplicated) while the answer is on its way. @default submitTimeoutMs
   */
  readonly responseTimeoutMs?: number;
  /** From TCP connect to bind_transceiver_resp. @default 10000 */
  readonly bindTimeoutMs?: number;
  readonly logger?: ConnectorLogger;
}

export interface SmppCarrierStats {
  /** submit_sm PDUs written (each part of a long message counts). */
  submitted: number;
  /** submit_sm_resp with status 0. */
  acked: number;
  /** Parts that failed: error status, timeout, or connection lost before the response. */
  failed: number;
  /** Delivery receipts received, redeliveries included. */
  receipts: number;
  /** Connection attempts after the first one. */
  reconnects: number;
}

const ESME_ROK = 0x00;
const ESME_RINVBNDSTS = 0x04;
const ESME_RSYSERR = 0x08;
const ESME_RINVDSTADR = 0x0b;
const ESME_RINVPASWD = 0x0e;
const ESME_RINVSYSID = 0x0f;
const ESME_RMSGQFUL = 0x14;
const ESME_RSUBMITFAIL = 0x45;
const ESME_RINVDSTTON = 0x50;
const ESME_RINVDSTNPI = 0x51;
const ESME_RINVSYSTYP = 0x53;
const ESME_RTHROTTLED = 0x58;
const ESME_RX_T_APPN = 0x64;
const ESME_RDELIVERYFAILURE = 0xfe;

const ESM_CLASS_UDHI = 0x40;
const ESM_CLASS_TYPE_MASK = 0x3c;
const ESM_CLASS_DELIVERY_RECEIPT = 0x04;
const ESM_CLASS_INTERMEDIATE_NOTIFICATION = 0x20;

/** Statuses after which the same submit may succeed later. ESME_RINVBNDSTS means the SMSC lost our bind. */
const RETRYABLE_SUBMIT_STATUSES = new Set([ESME_RTHROTTLED, ESME_RMSGQFUL, ESME_RX_T_APPN, ESME_RSYSERR, ESME_RINVBNDSTS]);
/** Statuses that mean "this destination cannot be reached through this carrier". */
const ROUTING_SUBMIT_STATUSES = new Set([ESME_RINVDSTADR, ESME_RINVDSTTON, ESME_RINVDSTNPI, ESME_RSUBMITFAIL, ESME_RDELIVERYFAILURE]);
/** Bind rejections that retrying cannot fix; retrying them may also get the account locked. */
const CREDENTIAL_BIND_STATUSES = new Set([ESME_RINVPASWD, ESME_RINVSYSID, ESME_RINVSYSTYP]);

const STATUS_NAMES: Record<number, string> = Object.fromEntries(Object.entries(smpp.errors).map(([name, code]) => [code, name]));

export const commandStatusName = (status: number): string =>
  `${STATUS_NAMES[status] ?? 'unknown status'} (0x${status.toString(16).padStart(8, '0')})`;

export function carrierErrorForSubmitStatus(status: number): CarrierError {
  const name = commandStatusName(status);
  if (RETRYABLE_SUBMIT_STATUSES.has(status)) {
    return new CarrierError(`SMSC refused submit_sm for now: ${name}`, true, CARRIER_CODE_INTERNAL, status);
  }
  const codeId = ROUTING_SUBMIT_STATUSES.has(status) ? CARRIER_CODE_ROUTING_FAILED : CARRIER_CODE_INTERNAL;
  return new CarrierError(`SMSC rejected submit_sm: ${name}`, false, codeId, status);
}

/** Digits (with or without '+') go out as international E.164; anything else as an alphanumeric sender. */
function address(value: string): { ton: number; npi: number; addr: string } {
  const digits = value.startsWith('+') ? value.slice(1) : value;
  if (/^\d+$/.test(digits)) return { ton: 1, npi: 1, addr: digits };
  return { ton: 5, npi: 0, addr: value };
}

interface MessageJob {
  readonly parts: PartJob[];
  readonly ids: string[];
  remaining: number;
  settled: boolean;
  timer?: NodeJS.Timeout;
  resolve(result: SubmitResult): void;
  reject(error: CarrierError): void;
}

interface PartJob {
  readonly job: MessageJob;
  readonly index: number;
  readonly params: SubmitSmFields;
  state: 'queued' | 'sent' | 'done';
  sequence?: number;
  /** How many parts this connector wrote before this one: receipts that overtake a response wait by it (see releaseReceipts). */
  ordinal?: number;
  /** Runs from the write of the submit_sm to responseTimeoutMs. */
  responseTimer?: NodeJS.Timeout;
}

type State = 'idle' | 'connecting' | 'bound' | 'stopped';

/**
 * An ESME over one transceiver bind, on an SmppLink (smpp-wire.ts: its own codec for the PDUs every
 * message costs, the `smpp` package's for the rest).
 *
 * Delivery guarantee: at least once. A part whose submit_sm was written but whose submit_sm_resp
 * never came (connection lost, timeout) rejects with a retryable CarrierError; the SMSC may
 * nonetheless have accepted it, so the platform's retry can deliver that message twice. That
 * is the accepted trade-off: SMPP has no idempotency key to make the retry safe.
 */
export class SmppCarrier implements Carrier {
  readonly name: string;
  readonly stats: SmppCarrierStats = { submitted: 0, acked: 0, failed: 0, receipts: 0, reconnects: 0 };

  private readonly windowSize: number;
  private readonly enquireLinkIntervalMs: number;
  private readonly reconnectInitialDelayMs: number;
  private readonly reconnectMaxDelayMs: number;
  private readonly submitTimeoutMs: number;
  private readonly responseTimeoutMs: number;
  private readonly bindTimeoutMs: number;
  private readonly bucket: TokenBucket;
  private readonly log?: ConnectorLogger;

  private state: State = 'idle';
  private session?: SmppLink;
  private handler?: ReceiptHandler;
  private readonly queue: PartJob[] = [];
  private readonly inflight = new Map<number, PartJob>();
  private readonly dispatches = new Set<Promise<void>>();
  /** Parts written so far (the next part's ordinal). */
  private written = 0;
  /** Receipts waiting for the parts that were in flight when they arrived, in arrival order. */
  private readonly receiptsWaiting: Array<{ after: number; release(): void }> = [];
  private attempt = 0;
  private connections = 0;
  private concatRef = Math.floor(Math.random() * 256);
  private reconnectTimer?: NodeJS.Timeout;
  private bindTimer?: NodeJS.Timeout;
  private enquireTimer?: NodeJS.Timeout;
  private pumpTimer?: NodeJS.Timeout;
  private enquirePending = false;
  private startWaiter?: { resolve(): void; reject(e: Error): void };

  constructor(private readonly options: SmppCarrierOptions) {
    this.name = options.name ?? `smpp:${options.host}:${options.port}`;
    this.windowSize = options.windowSize ?? 10;
    this.enquireLinkIntervalMs = options.enquireLinkIntervalMs ?? 30_000;
    this.reconnectInitialDelayMs = options.reconnectInitialDelayMs ?? 500;
    this.reconnectMaxDelayMs = options.reconnectMaxDelayMs ?? 30_000;
    this.submitTimeoutMs = options.submitTimeoutMs ?? 10_000;
    this.responseTimeoutMs = options.responseTimeoutMs ?? this.submitTimeoutMs;
    this.bindTimeoutMs = options.bindTimeoutMs ?? 10_000;
    const rate = options.maxSubmitsPerSecond ?? 100;
    const problems: string[] = [];
    if (!Number.isInteger(this.windowSize) || this.windowSize < 1) problems.push(`windowSize must be an integer >= 1, got ${this.windowSize}`);
    if (!(rate > 0)) problems.push(`maxSubmitsPerSecond must be > 0, got ${rate}`);
    if (!(this.submitTimeoutMs > 0)) problems.push(`submitTimeoutMs must be > 0, got ${this.submitTimeoutMs}`);
    if (!(this.responseTimeoutMs > 0)) problems.push(`responseTimeoutMs must be > 0, got ${this.responseTimeoutMs}`);
    if (!(this.enquireLinkIntervalMs > 0)) problems.push(`enquireLinkIntervalMs must be > 0, got ${this.enquireLinkIntervalMs}`);
    if (!(this.reconnectInitialDelayMs > 0) || this.reconnectMaxDelayMs < this.reconnectInitialDelayMs) {
      problems.push(`reconnect delays must satisfy 0 < initial <= max, got ${this.reconnectInitialDelayMs} and ${this.reconnectMaxDelayMs}`);
    }
    if (problems.length > 0) throw new RangeError(`Invalid SMPP carrier options for ${this.name}: ${problems.join('; ')}`);
    // A burst of a tenth of a second: SMSCs usually count per second, and a full second's burst on
    // top of a steady rate would double the count in that second.
    this.bucket = new TokenBucket(rate, Math.max(1, Math.floor(rate / 10)));
    this.log = options.logger;
  }

  get connected(): boolean {
    return this.state === 'bound';
  }

  /**
   * Connects and binds. Resolves once bound. Rejects, without retrying, when the SMSC refuses the
   * credentials (wrong password, system_id or system_type): that needs a configuration change,
   * and repeated bad binds can lock the account. While the SMSC is unreachable it keeps
   * retrying with backoff and the promise stays pending; stop() rejects it.
   */
  start(): Promise<void> {
    if (this.state !== 'idle') return Promise.reject(new Error(`${this.name}: start() called twice`));
    return new Promise<void>((resolve, reject) => {
      this.startWaiter = { resolve, reject };
      this.connect();
    });
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    const session = this.session;
    const wasBound = this.state === 'bound';
    this.state = 'stopped';
    for (const t of [this.reconnectTimer, this.bindTimer, this.enquireTimer, this.pumpTimer]) clearTimeout(t);
    clearInterval(this.enquireTimer);
    this.startWaiter?.reject(new CarrierError(`${this.name}: stopped before the bind completed`, true, CARRIER_CODE_INTERNAL));
    this.startWaiter = undefined;
    for (const part of [...this.queue]) {
      this.failJob(part.job, new CarrierError(`${this.name}: connector stopped before the message was sent`, true, CARRIER_CODE_INTERNAL));
    }
    // Let receipt handlers that are running finish, so their deliver_sm_resp goes out before the unbind.
    await Promise.race([Promise.allSettled([...this.dispatches]), delay(2000)]);
    if (!session) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => session.destroy(), 1000);
      session.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      if (session.socket.destroyed) {
        clearTimeout(timer);
        resolve();
        return;
      }
      // Destroy rather than end() once answered: some SMSCs (Net::SMPP's example among them) never
      // close their side, and a half-closed socket would hold stop() until the timer fires.
      if (!wasBound || !session.request('unbind', {}, () => session.destroy())) session.destroy();
    });
    this.failInflight('connector stopped');
  }

  onReceipt(handler: ReceiptHandler): void {
    this.handler = handler;
  }

  submit(msg: OutboundSubmission): Promise<SubmitResult> {
    if (this.state === 'stopped') {
      return Promise.reject(new CarrierError(`${this.name}: connector is stopped`, true, CARRIER_CODE_INTERNAL));
    }
    const split = splitForSmpp(msg.content);
    const source = address(msg.source);
    const destination = address(msg.destination);
    const multipart = split.parts.length > 1;
    const ref = multipart ? this.nextConcatRef() : 0;

    return new Promise<SubmitResult>((resolve, reject) => {
      const job: MessageJob = { parts: [], ids: [], remaining: split.parts.length, settled: false, resolve, reject };
      split.parts.forEach((payload, index) => {
        const params: SubmitSmFields = {
          source_addr_ton: source.ton,
          source_addr_npi: source.npi,
          source_addr: source.addr,
          dest_addr_ton: destination.ton,
          dest_addr_npi: destination.npi,
          destination_addr: destination.addr,
          esm_class: multipart ? ESM_CLASS_UDHI : 0,
          registered_delivery: 1,
          data_coding: split.dataCoding,
          // A Buffer goes out byte for byte; a string would be re-encoded by the library.
          short_message: multipart ? Buffer.concat([buildUdh(ref, split.parts.length, index + 1), payload]) : payload,
        };
        const part: PartJob = { job, index, params, state: 'queued' };
        job.parts.push(part);
        this.queue.push(part);
      });
      // Only parts still queued expire here; a part already written waits for its own response
      // timer. Abandoning a written part because the message queued for long (an outage) would
      // make the retry a duplicate whenever the SMSC answers a moment later.
      job.timer = setTimeout(() => {
        if (!job.parts.some((p) => p.state === 'queued')) return;
        const sent = job.parts.some((p) => p.state !== 'queued');
        this.failJob(
          job,
          new CarrierError(
            `${this.name}: not sent within ${this.submitTimeoutMs} ms (${this.connected ? 'window full or throughput cap' : 'not bound to the SMSC'})` +
              (sent ? '; parts already written may reach the handset' : ''),
            true,
            CARRIER_CODE_INTERNAL,
          ),
        );
      }, this.submitTimeoutMs);
      this.pump();
    });
  }

  private nextConcatRef(): number {
    this.concatRef = (this.concatRef + 1) % 256;
    return this.concatRef;
  }

  private connect(): void {
    if (this.state === 'stopped') return;
    this.state = 'connecting';
    if (this.connections++ > 0) this.stats.reconnects++;
    const session: SmppLink = new SmppLink(
      { host: this.options.host, port: this.options.port },
      {
        error: (err) => {
          this.log?.warn({ carrier: this.name, err: err.message }, 'SMPP connection error');
          // After a decoding error the stream's position is lost; a new connection starts clean.
          session.destroy();
        },
        close: () => this.onClose(session),
        connect: () => {
          this.bindTimer = setTimeout(() => {
            this.log?.warn({ carrier: this.name }, `no bind_transceiver_resp within ${this.bindTimeoutMs} ms`);
            session.destroy();
          }, this.bindTimeoutMs);
          session.request(
            'bind_transceiver',
            { system_id: this.options.systemId, password: this.options.password, system_type: this.options.systemType ?? '' },
            (pdu) => this.onBindResp(session, pdu),
          );
        },
        submitResp: (sequence, status, messageId) => {
          if (session === this.session) this.onSubmitResp(sequence, status, messageId);
        },
        deliverSm: (fields) => {
          if (session === this.session) this.onDeliverSm(session, fields);
        },
        pdu: (pdu) => this.onPdu(session, pdu),
      },
    );
    this.session = session;
  }

  private onBindResp(session: SmppLink, pdu: smpp.PDU): void {
    clearTimeout(this.bindTimer);
    if (session !== this.session || this.state !== 'connecting') return;
    if (pdu.command_status !== ESME_ROK) {
      const status = pdu.command_status;
      const message = `${this.name}: bind_transceiver as '${this.options.systemId}' refused with ${commandStatusName(status)}`;
      if (CREDENTIAL_BIND_STATUSES.has(status) && this.startWaiter) {
        // First bind: a configuration error. Give up and say so instead of hammering the SMSC.
        this.state = 'stopped';
        this.startWaiter.reject(new CarrierError(`${message}; check systemId, password and systemType`, false, CARRIER_CODE_INTERNAL, status));
        this.startWaiter = undefined;
      } else {
        this.log?.error({ carrier: this.name, commandStatus: status }, `${message}; retrying`);
      }
      session.destroy();
      return;
    }
    this.state = 'bound';
    this.attempt = 0;
    this.log?.info({ carrier: this.name, smsc: pdu.system_id }, 'SMPP bound (transceiver)');
    this.startWaiter?.resolve();
    this.startWaiter = undefined;
    this.enquirePending = false;
    this.enquireTimer = setInterval(() => this.enquireLink(session), this.enquireLinkIntervalMs);
    this.pump();
  }

  private enquireLink(session: SmppLink): void {
    if (this.enquirePending) {
      this.log?.warn({ carrier: this.name }, `no enquire_link_resp within ${this.enquireLinkIntervalMs} ms; reconnecting`);
      session.destroy();
      return;
    }
    this.enquirePending = session.request('enquire_link', {}, () => (this.enquirePending = false));
  }

  private onClose(session: SmppLink): void {
    if (session !== this.session) return;
    this.session = undefined;
    clearTimeout(this.bindTimer);
    clearInterval(this.enquireTimer);
    clearTimeout(this.pumpTimer);
    this.failInflight('connection to the SMSC closed');
    if (this.state === 'stopped') return;
    this.state = 'connecting';
    const base = Math.min(this.reconnectMaxDelayMs, this.reconnectInitialDelayMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    // Jitter keeps many connectors from reconnecting in lockstep after an SMSC restart.
    const wait = Math.round(base * (0.75 + Math.random() * 0.25));
    this.log?.info({ carrier: this.name, delayMs: wait }, 'SMPP connection closed; reconnecting');
    this.reconnectTimer = setTimeout(() => this.connect(), wait);
  }

  /** Parts written to a connection that is gone: their fate at the SMSC is unknown. */
  private failInflight(reason: string): void {
    const parts = [...this.inflight.values()];
    this.inflight.clear();
    for (const part of parts) {
      this.finishPart(part);
      this.stats.failed++;
      this.failJob(
        part.job,
        new CarrierError(
          `${this.name}: ${reason} before submit_sm_resp; the SMSC may have accepted the message, so a retry can deliver it twice`,
          true,
          CARRIER_CODE_INTERNAL,
        ),
      );
    }
  }

  private pump(): void {
    clearTimeout(this.pumpTimer);
    this.pumpTimer = undefined;
    const session = this.session;
    if (this.state !== 'bound' || !session) return;
    while (this.queue.length > 0 && this.inflight.size < this.windowSize) {
      if (!this.bucket.tryTake()) {
        this.pumpTimer = setTimeout(() => this.pump(), this.bucket.msUntilNext());
        return;
      }
      if (!session.writable) return; // the close handler reconnects and the queue goes out then
      const part = this.queue.shift()!;
      const sequence = session.nextSequence();
      session.write(encodeSubmitSm(sequence, part.params));
      part.state = 'sent';
      part.sequence = sequence;
      part.ordinal = this.written++;
      this.inflight.set(sequence, part);
      this.stats.submitted++;
      // Give up on the response eventually: a silent SMSC must not hold the window forever. A late
      // response for this sequence number is then ignored.
      part.responseTimer = setTimeout(() => this.responseTimedOut(part), this.responseTimeoutMs);
    }
  }

  /** PDUs other than submit_sm_resp and deliver_sm (see SmppLink). */
  private onPdu(session: SmppLink, pdu: smpp.PDU): void {
    if (session !== this.session) return;
    switch (pdu.command) {
      case 'generic_nack':
        if (this.inflight.has(pdu.sequence_number)) this.onSubmitResp(pdu.sequence_number, pdu.command_status || ESME_RSYSERR);
        break;
      case 'enquire_link':
        session.write(pdu.response().toBuffer());
        break;
      case 'unbind':
        this.log?.info({ carrier: this.name }, 'SMSC unbound us; reconnecting');
        session.writeThen(pdu.response().toBuffer(), () => session.destroy());
        break;
      default:
        break;
    }
  }

  private onSubmitResp(sequence: number, status: number, messageId?: string): void {
    const part = this.inflight.get(sequence);
    if (!part) {
      this.log?.debug({ carrier: this.name, sequence }, 'submit_sm_resp for no pending part (late after timeout)');
      return;
    }
    this.inflight.delete(sequence);
    this.finishPart(part);
    const job = part.job;
    if (status === ESME_ROK && messageId) {
      this.stats.acked++;
      job.ids[part.index] = messageId;
      if (--job.remaining === 0 && !job.settled) {
        job.settled = true;
        clearTimeout(job.timer);
        job.resolve({ carrierMessageIds: job.ids });
      }
    } else {
      this.stats.failed++;
      // A no-op when a sibling part already failed the message.
      this.failJob(
        job,
        status === ESME_ROK
          ? new CarrierError(`${this.name}: submit_sm_resp without message_id`, false, CARRIER_CODE_INTERNAL, status)
          : carrierErrorForSubmitStatus(status),
      );
    }
    this.pump();
  }

  private responseTimedOut(part: PartJob): void {
    if (part.state !== 'sent' || part.sequence === undefined || this.inflight.get(part.sequence) !== part) return;
    this.inflight.delete(part.sequence);
    this.stats.failed++;
    this.finishPart(part);
    this.failJob(
      part.job,
      new CarrierError(
        `${this.name}: no submit_sm_resp within ${this.responseTimeoutMs} ms; the SMSC may still have accepted the message`,
        true,
        CARRIER_CODE_INTERNAL,
      ),
    );
  }

  /** Called once a part has left `inflight` (or was never written). */
  private finishPart(part: PartJob): void {
    clearTimeout(part.responseTimer);
    part.state = 'done';
    this.releaseReceipts();
  }

  /**
   * Releases the receipts whose wait is over: a receipt that arrived after `after` parts were
   * written waits until every one of those has ended. Parts leave `inflight` only when they end,
   * and `inflight` keeps the order they were written in, so that holds once its oldest part's
   * ordinal is `after` or more. One comparison per ended part, however wide the window: waiting on
   * each in-flight part's promise cost a Promise.all over the window per receipt.
   */
  private releaseReceipts(): void {
    const waiting = this.receiptsWaiting;
    if (waiting.length === 0) return;
    const oldest = this.inflight.size > 0 ? this.inflight.values().next().value!.ordinal! : Infinity;
    while (waiting.length > 0 && waiting[0]!.after <= oldest) waiting.shift()!.release();
  }

  /** Settles once the parts in flight now have ended; undefined when none is. */
  private afterPartsInFlight(): Promise<void> | undefined {
    if (this.inflight.size === 0) return undefined;
    return new Promise<void>((release) => this.receiptsWaiting.push({ after: this.written, release }));
  }

  /** Rejects the message and drops its parts that were not sent yet: half a long message is of no use. */
  private failJob(job: MessageJob, error: CarrierError): void {
    if (job.settled) return;
    job.settled = true;
    clearTimeout(job.timer);
    for (const part of job.parts) {
      if (part.state === 'queued') {
        const i = this.queue.indexOf(part);
        if (i >= 0) this.queue.splice(i, 1);
        this.finishPart(part);
      }
      // Parts already sent keep their window slot until their response or the connection's end:
      // the SMSC counts them as outstanding too.
    }
    job.reject(error);
    this.pump();
  }

  private onDeliverSm(session: SmppLink, pdu: DeliverSmFields): void {
    const type = pdu.esm_class & ESM_CLASS_TYPE_MASK;
    if (type !== ESM_CLASS_DELIVERY_RECEIPT && type !== ESM_CLASS_INTERMEDIATE_NOTIFICATION) {
      this.log?.info({ carrier: this.name, source: pdu.source_addr, esmClass: pdu.esm_class }, 'ignoring mobile-originated deliver_sm');
      session.write(encodeResponse(DELIVER_SM_RESP, ESME_ROK, pdu.sequence_number, ''));
      return;
    }
    const receipt = receiptFromDeliverSm(pdu);
    if (!receipt) {
      // Nacking would make the SMSC redeliver it forever; log it for a human instead.
      this.log?.warn({ carrier: this.name, pdu: describeDeliverSm(pdu) }, 'acknowledging a delivery receipt that could not be parsed');
      session.write(encodeResponse(DELIVER_SM_RESP, ESME_ROK, pdu.sequence_number, ''));
      return;
    }
    this.stats.receipts++;
    // A receipt can overtake the submit_sm_resp of its own message (the SMSC writes it first, or
    // both arrive in one read). Hand it over only after the responses outstanding now are
    // handled, so the caller of submit() has usually recorded the ids by then.
    const dispatch = this.dispatchReceipt(session, pdu.sequence_number, receipt, this.afterPartsInFlight());
    this.dispatches.add(dispatch);
    void dispatch.finally(() => this.dispatches.delete(dispatch));
  }

  private async dispatchReceipt(session: SmppLink, sequence: number, receipt: DeliveryReceipt, overtaken: Promise<void> | undefined): Promise<void> {
    if (overtaken) await overtaken;
    await new Promise<void>((r) => setImmediate(r));
    let status = ESME_ROK;
    try {
      if (!this.handler) throw new Error('no receipt handler registered');
      await this.handler(receipt);
    } catch (err) {
      status = ESME_RX_T_APPN;
      this.log?.warn(
        { carrier: this.name, carrierMessageId: receipt.carrierMessageId, err: err instanceof Error ? err.message : String(err) },
        'receipt not recorded; asking the SMSC to redeliver it',
      );
    }
    // On a closed connection there is nobody to answer; the SMSC redelivers on the next bind.
    session.write(encodeResponse(DELIVER_SM_RESP, status, sequence, ''));
  }
}

const utf16be = new TextDecoder('utf-16be');

/**
 * The text of a short_message or message_payload as the SMSC sent it (the bytes, see smpp-wire.ts),
 * read per data_coding: UCS-2 for 8, byte for byte otherwise (the GSM default alphabet matches
 * ASCII where receipts use it), after a UDH when UDHI is set.
 */
function messageText(value: Buffer | undefined, dataCoding: number, esmClass: number): string {
  if (value === undefined) return '';
  const text = esmClass & ESM_CLASS_UDHI && value.length > 0 ? value.subarray(value[0]! + 1) : value;
  return (dataCoding & 0x0f) === 8 ? utf16be.decode(text) : text.toString('latin1');
}

/**
 * Builds a receipt from a deliver_sm, preferring the TLVs receipted_message_id and message_state
 * over the text when present (they are structured; the text format varies between SMSCs).
 */
export function receiptFromDeliverSm(pdu: DeliverSmFields): DeliveryReceipt | undefined {
  const text = deliverSmText(pdu);
  const fields = parseReceiptFields(text);
  const id = pdu.receipted_message_id || fields.id;
  const status =
    pdu.message_state !== undefined ? receiptStatusFromMessageState(pdu.message_state) : fields.stat ? receiptStatusFromStat(fields.stat) : undefined;
  if (!id || !status) return undefined;
  return buildReceipt(fields, id, status, text);
}

function describeDeliverSm(pdu: DeliverSmFields): Record<string, unknown> {
  return {
    source: pdu.source_addr,
    esmClass: pdu.esm_class,
    dataCoding: pdu.data_coding,
    text: deliverSmText(pdu),
  };
}

const deliverSmText = (pdu: DeliverSmFields): string =>
  messageText(pdu.short_message, pdu.data_coding, pdu.esm_class) || messageText(pdu.message_payload, pdu.data_coding, 0);

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());
