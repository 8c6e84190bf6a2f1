import { EventEmitter } from 'node:events';
import { AddressInfo } from 'node:net';
import * as smpp from 'smpp';

/**
 * A real SMSC for tests and benchmarks: an SMPP server on loopback built on the `smpp` package.
 * It binds transceivers, records every submit_sm with the exact bytes received, answers with
 * message ids, and sends delivery receipts, redelivering those answered with an error status.
 * Knobs for the bad days: throttling, slow or missing responses, receipts that overtake their
 * submit_sm_resp, dropped connections. No test framework dependency.
 */

export type ReceiptStat = 'DELIVRD' | 'UNDELIV' | 'EXPIRED' | 'REJECTD' | 'DELETED' | 'UNKNOWN' | 'ACCEPTD' | 'ENROUTE';

const MESSAGE_STATE: Record<ReceiptStat, number> = {
  ENROUTE: 1,
  DELIVRD: 2,
  EXPIRED: 3,
  DELETED: 4,
  UNDELIV: 5,
  ACCEPTD: 6,
  UNKNOWN: 7,
  REJECTD: 8,
};

export const ESME_RINVBNDSTS = 0x04;
export const ESME_RINVPASWD = 0x0e;
export const ESME_RINVSYSID = 0x0f;
export const ESME_RTHROTTLED = 0x58;
export const ESME_RX_T_APPN = 0x64;

export interface TestSmscOptions {
  /** @default '127.0.0.1' */
  host?: string;
  /** @default 0 (any free port) */
  port?: number;
  /** @default 'esme' */
  systemId?: string;
  /** @default 'secret' */
  password?: string;
  /** @default 50 */
  receiptDelayMs?: number;
  /**
   * Receipt status per submit_sm (the destination, and the whole submit for per-part decisions:
   * `submit.udh?.[5]` is a part's sequence number); null sends no receipt. @default always 'DELIVRD'
   */
  receiptStatus?: (destination: string, submit: RecordedSubmit) => ReceiptStat | null;
  /** How many times each receipt is sent (duplicates, each a deliver_sm of its own, like an SMSC that redelivers after an ack it lost). @default 1 */
  receiptCopies?: number;
  /** Send the receipt first, then the submit_sm_resp (after responseDelayMs). @default false */
  receiptBeforeResp?: boolean;
  /** Hold each submit_sm_resp this long. @default 0 */
  responseDelayMs?: number;
  /** Add the TLVs receipted_message_id and message_state to receipts. @default false */
  receiptTlvs?: boolean;
  /** Wait before resending a receipt answered with a non-zero status. @default 100 */
  redeliveryDelayMs?: number;
  /** @default 5 */
  maxRedeliveries?: number;
  /** @default 'SMSC' */
  messageIdPrefix?: string;
}

export interface RecordedBind {
  command: string;
  systemId: string;
  password: string;
  systemType: string;
  commandStatus: number;
}

export interface RecordedSubmit {
  sequenceNumber: number;
  sourceAddrTon: number;
  sourceAddrNpi: number;
  sourceAddr: string;
  destAddrTon: number;
  destAddrNpi: number;
  destinationAddr: string;
  esmClass: number;
  registeredDelivery: number;
  dataCoding: number;
  /** short_message exactly as received, UDH included. */
  shortMessage: Buffer;
  /** The UDH when esm_class has UDHI set. */
  udh?: Buffer;
  /** short_message without the UDH. */
  payload: Buffer;
  /** Set when the SMSC accepted it. */
  messageId?: string;
  commandStatus?: number;
  receivedAt: number;
}

export interface RecordedDeliverResp {
  messageId: string;
  commandStatus: number;
  attempt: number;
}

interface PendingReceipt {
  messageId: string;
  params: smpp.PduFields;
  preferred?: smpp.Session;
  attempt: number;
}

export class TestSmsc extends EventEmitter {
  readonly submits: RecordedSubmit[] = [];
  readonly binds: RecordedBind[] = [];
  readonly deliverResponses: RecordedDeliverResp[] = [];
  /** Arrival times (ms, performance.now()) of enquire_link PDUs. */
  readonly enquireLinks: number[] = [];
  /** submit_sm received and not yet answered, now and at most so far. */
  outstanding = 0;
  maxOutstanding = 0;
  /** Mutable: tests change behaviour between steps. */
  readonly options: Required<Omit<TestSmscOptions, 'host' | 'port'>>;

  private readonly server: smpp.Server;
  private readonly bound = new Set<smpp.Session>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly waitingReceipts: PendingReceipt[] = [];
  /** Receipts written to a session and not answered yet; resent elsewhere if it closes. */
  private readonly unacked = new Map<smpp.Session, Set<PendingReceipt>>();
  private failNextCount = 0;
  private failNextStatus = ESME_RTHROTTLED;
  private silent = false;
  private deafToEnquireLink = false;
  private nextId = 1;

  private constructor(options: TestSmscOptions) {
    super();
    this.options = {
      systemId: options.systemId ?? 'esme',
      password: options.password ?? 'secret',
      receiptDelayMs: options.receiptDelayMs ?? 50,
      receiptStatus: options.receiptStatus ?? (() => 'DELIVRD'),
      receiptBeforeResp: options.receiptBeforeResp ?? false,
      responseDelayMs: options.responseDelayMs ?? 0,
      receiptTlvs: options.receiptTlvs ?? false,
      redeliveryDelayMs: options.redeliveryDelayMs ?? 100,
      maxRedeliveries: options.maxRedeliveries ?? 5,
      messageIdPrefix: options.messageIdPrefix ?? 'SMSC',
      receiptCopies: options.receiptCopies ?? 1,
    };
    this.server = smpp.createServer((session) => this.accept(session));
  }

  static async start(options: TestSmscOptions = {}): Promise<TestSmsc> {
    const smsc = new TestSmsc(options);
    await new Promise<void>((resolve, reject) => {
      smsc.server.once('error', reject);
      smsc.server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
        smsc.server.off('error', reject);
        resolve();
      });
    });
    return smsc;
  }

  get host(): string {
    return (this.server.address() as AddressInfo).address;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Sessions currently bound. */
  get boundSessions(): number {
    return this.bound.size;
  }

  /** Answer the next `count` submit_sm with `status` (ESME_RTHROTTLED unless told). */
  failNext(count: number, status = ESME_RTHROTTLED): void {
    this.failNextCount = count;
    this.failNextStatus = status;
  }

  /** Stop answering submit_sm (they stay outstanding) or start again. */
  silence(on = true): void {
    this.silent = on;
  }

  /** Stop answering enquire_link (a half-dead link) or start again. */
  ignoreEnquireLinks(on = true): void {
    this.deafToEnquireLink = on;
  }

  /** Sends a mobile-originated deliver_sm on a bound session; resolves with the deliver_sm_resp command_status. */
  sendMo(source: string, destination: string, text: string): Promise<number> {
    const session = [...this.bound][0];
    if (!session) return Promise.reject(new Error('test SMSC: no bound session to send a deliver_sm on'));
    return new Promise((resolve, reject) => {
      const sent = session.deliver_sm(
        {
          source_addr_ton: 1,
          source_addr_npi: 1,
          source_addr: source,
          dest_addr_ton: 1,
          dest_addr_npi: 1,
          destination_addr: destination,
          esm_class: 0,
          data_coding: 0,
          short_message: Buffer.from(text, 'ascii'),
        },
        (resp) => resolve(resp.command_status),
      );
      if (!sent) reject(new Error('test SMSC: session not writable'));
    });
  }

  /** Drops every connection without an unbind, like a crash or a network cut. */
  dropConnections(): void {
    for (const session of [...this.server.sessions]) session.destroy();
  }

  /** Polls until `probe` returns something truthy; rejects after timeoutMs naming what it waited for. */
  async waitFor<T>(what: string, probe: () => T | undefined | null | false, timeoutMs = 5000): Promise<T> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const value = probe();
      if (value) return value;
      if (performance.now() > deadline) throw new Error(`test SMSC: timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.dropConnections();
    await closed;
  }

  private accept(session: smpp.Session): void {
    // The library decodes short_message into text and drops the raw bytes; keep the bytes each
    // PDU was read from so tests can assert exactly what went over the wire.
    const socket = session.socket;
    const read = socket.read.bind(socket);
    let chunks: Buffer[] = [];
    socket.read = ((size?: number) => {
      const chunk = read(size);
      if (chunk) chunks.push(chunk);
      return chunk;
    }) as typeof socket.read;
    session.on('pdu', (pdu) => {
      const raw = Buffer.concat(chunks);
      chunks = [];
      this.onPdu(session, pdu, raw);
    });
    session.on('error', () => session.destroy());
    session.on('close', () => {
      this.bound.delete(session);
      const lost = this.unacked.get(session) ?? new Set();
      this.unacked.delete(session);
      for (const receipt of lost) this.deliver({ ...receipt, preferred: undefined, attempt: receipt.attempt + 1 });
    });
  }

  private onPdu(session: smpp.Session, pdu: smpp.PDU, raw: Buffer): void {
    switch (pdu.command) {
      case 'bind_transceiver':
      case 'bind_transmitter':
      case 'bind_receiver': {
        const status =
          pdu.system_id !== this.options.systemId ? ESME_RINVSYSID : pdu.password !== this.options.password ? ESME_RINVPASWD : 0;
        this.binds.push({
          command: pdu.command,
          systemId: pdu.system_id ?? '',
          password: pdu.password ?? '',
          systemType: pdu.system_type ?? '',
          commandStatus: status,
        });
        session.send(pdu.response({ command_status: status, system_id: 'TESTSMSC' }));
        if (status === 0) {
          this.bound.add(session);
          this.flushWaitingReceipts();
        }
        this.emit('bind', this.binds[this.binds.length - 1]);
        break;
      }
      case 'submit_sm':
        this.onSubmit(session, pdu, raw);
        break;
      case 'enquire_link':
        this.enquireLinks.push(performance.now());
        if (!this.deafToEnquireLink) session.send(pdu.response());
        this.emit('enquire_link');
        break;
      case 'unbind':
        this.bound.delete(session);
        session.send(pdu.response(), () => session.close());
        break;
      default:
        break;
    }
  }

  private onSubmit(session: smpp.Session, pdu: smpp.PDU, raw: Buffer): void {
    const submit = parseSubmitSm(raw);
    this.submits.push(submit);
    if (!this.bound.has(session)) {
      submit.commandStatus = ESME_RINVBNDSTS;
      session.send(pdu.response({ command_status: ESME_RINVBNDSTS }));
      this.emit('submit', submit);
      return;
    }
    this.outstanding++;
    this.maxOutstanding = Math.max(this.maxOutstanding, this.outstanding);
    this.emit('submit', submit);
    if (this.silent) return;

    if (this.failNextCount > 0) {
      this.failNextCount--;
      submit.commandStatus = this.failNextStatus;
      this.respond(session, pdu, { command_status: this.failNextStatus });
      return;
    }

    const messageId = `${this.options.messageIdPrefix}${(this.nextId++).toString(16).toUpperCase().padStart(8, '0')}`;
    submit.messageId = messageId;
    submit.commandStatus = 0;
    const stat = this.options.receiptStatus(submit.destinationAddr, submit);
    const receipt = stat && submit.registeredDelivery & 0x01 ? this.receiptFor(submit, messageId, stat, session) : undefined;
    // Each copy is a PendingReceipt of its own: unacked copies are tracked (and redelivered) separately.
    const deliverCopies = () => {
      for (let i = 0; receipt && i < this.options.receiptCopies; i++) this.deliver({ ...receipt });
    };
    if (receipt && this.options.receiptBeforeResp) {
      deliverCopies();
      this.respond(session, pdu, { message_id: messageId });
      return;
    }
    this.respond(session, pdu, { message_id: messageId }, () => {
      if (receipt) this.later(deliverCopies, this.options.receiptDelayMs);
    });
  }

  private respond(session: smpp.Session, pdu: smpp.PDU, fields: smpp.PduFields, after?: () => void): void {
    const send = () => {
      this.outstanding--;
      session.send(pdu.response(fields));
      after?.();
    };
    if (this.options.responseDelayMs > 0) this.later(send, this.options.responseDelayMs);
    else send();
  }

  private receiptFor(submit: RecordedSubmit, messageId: string, stat: ReceiptStat, session: smpp.Session): PendingReceipt {
    const now = smppDate(new Date());
    const delivered = stat === 'DELIVRD' ? '001' : '000';
    const err = stat === 'DELIVRD' ? '000' : '001';
    const text = `id:${messageId} sub:001 dlvrd:${delivered} submit date:${now} done date:${now} stat:${stat} err:${err} text:`;
    const params: smpp.PduFields = {
      source_addr_ton: submit.destAddrTon,
      source_addr_npi: submit.destAddrNpi,
      source_addr: submit.destinationAddr,
      dest_addr_ton: submit.sourceAddrTon,
      dest_addr_npi: submit.sourceAddrNpi,
      destination_addr: submit.sourceAddr,
      esm_class: 0x04,
      data_coding: 0,
      short_message: Buffer.from(text, 'ascii'),
    };
    if (this.options.receiptTlvs) {
      params.receipted_message_id = messageId;
      params.message_state = MESSAGE_STATE[stat];
    }
    return { messageId, params, preferred: session, attempt: 1 };
  }

  /** Sends on the session that submitted when it is still bound, else on any bound one, else on the next bind. */
  private deliver(receipt: PendingReceipt): void {
    const session = receipt.preferred && this.bound.has(receipt.preferred) ? receipt.preferred : [...this.bound][0];
    if (!session) {
      this.waitingReceipts.push(receipt);
      return;
    }
    const unacked = this.unacked.get(session) ?? new Set<PendingReceipt>();
    this.unacked.set(session, unacked);
    const sent = session.deliver_sm({ ...receipt.params }, (resp) => {
      unacked.delete(receipt);
      this.deliverResponses.push({ messageId: receipt.messageId, commandStatus: resp.command_status, attempt: receipt.attempt });
      this.emit('deliver_sm_resp', this.deliverResponses[this.deliverResponses.length - 1]);
      if (resp.command_status !== 0 && receipt.attempt <= this.options.maxRedeliveries) {
        this.later(() => this.deliver({ ...receipt, attempt: receipt.attempt + 1 }), this.options.redeliveryDelayMs);
      }
    });
    if (sent) unacked.add(receipt);
    else this.waitingReceipts.push(receipt);
  }

  private flushWaitingReceipts(): void {
    for (const receipt of this.waitingReceipts.splice(0)) this.deliver(receipt);
  }

  private later(fn: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }
}

/**
 * Decodes a submit_sm from its raw bytes (SMPP 3.4 §4.4.1), independently of the `smpp`
 * package's decoder, so a test can tell what was on the wire from what the library thinks.
 */
export function parseSubmitSm(raw: Buffer): RecordedSubmit {
  let offset = 16;
  const int8 = () => raw.readUInt8(offset++);
  const cstring = () => {
    const end = raw.indexOf(0, offset);
    const value = raw.toString('latin1', offset, end);
    offset = end + 1;
    return value;
  };
  cstring(); // service_type
  const sourceAddrTon = int8();
  const sourceAddrNpi = int8();
  const sourceAddr = cstring();
  const destAddrTon = int8();
  const destAddrNpi = int8();
  const destinationAddr = cstring();
  const esmClass = int8();
  int8(); // protocol_id
  int8(); // priority_flag
  cstring(); // schedule_delivery_time
  cstring(); // validity_period
  const registeredDelivery = int8();
  int8(); // replace_if_present_flag
  const dataCoding = int8();
  int8(); // sm_default_msg_id
  const smLength = int8();
  const shortMessage = Buffer.from(raw.subarray(offset, offset + smLength));
  const udhi = (esmClass & 0x40) !== 0 && shortMessage.length > 0;
  const udh = udhi ? shortMessage.subarray(0, shortMessage[0] + 1) : undefined;
  return {
    sequenceNumber: raw.readUInt32BE(12),
    sourceAddrTon,
    sourceAddrNpi,
    sourceAddr,
    destAddrTon,
    destAddrNpi,
    destinationAddr,
    esmClass,
    registeredDelivery,
    dataCoding,
    shortMessage,
    udh,
    payload: udh ? shortMessage.subarray(udh.length) : shortMessage,
    receivedAt: performance.now(),
  };
}

function smppDate(d: Date): string {
  return d.toISOString().replace(/\D/g, '').slice(2, 12);
}
