import { connect, Socket } from 'node:net';
import * as smpp from 'smpp';

/*
 * The connector's SMPP session: framing, the hot PDUs' codec and write batching, on a plain TCP
 * socket. At thousands of messages a second the `smpp` package's generic codec (a PDU object per
 * PDU, every field through a filter, a stream read and a Buffer.concat per PDU, a closure and a
 * write per send) was most of the connector thread's time (docs/PERFORMANCE.md, ninth pass). The
 * four PDUs every message costs (submit_sm, submit_sm_resp, deliver_sm, deliver_sm_resp) are
 * encoded and decoded here field by field; the rest (binds, enquire_link, unbind, generic_nack and
 * any other command) still go through the package, so their encoding is the package's own. Tests
 * check this codec's bytes against the package's (test/connectors/smpp-wire.test.ts).
 */

export const HEADER_LENGTH = 16;
/** A PDU longer than this is a framing error: the largest legal one (a submit_sm with a 64 KiB payload) is well below. */
export const MAX_PDU_LENGTH = 70_000;

export const SUBMIT_SM = 0x00000004;
export const SUBMIT_SM_RESP = 0x80000004;
export const DELIVER_SM = 0x00000005;
export const DELIVER_SM_RESP = 0x80000005;
export const GENERIC_NACK = 0x80000000;
const RESPONSE_BIT = 0x80000000;
const ESME_RINVCMDID = 0x03;
const ESME_RINVCMDLEN = 0x02;

const TLV_RECEIPTED_MESSAGE_ID = 0x001e;
const TLV_MESSAGE_PAYLOAD = 0x0424;
const TLV_MESSAGE_STATE = 0x0427;

/** What the connector sends in a submit_sm; every other mandatory field goes out empty or 0, as the package sends it. */
export interface SubmitSmFields {
  source_addr_ton: number;
  source_addr_npi: number;
  source_addr: string;
  dest_addr_ton: number;
  dest_addr_npi: number;
  destination_addr: string;
  esm_class: number;
  registered_delivery: number;
  data_coding: number;
  /** Sent byte for byte; at most 254 bytes (the connector splits long messages into parts of 140). Addresses go out one byte per character, as the package writes them. */
  short_message: Buffer;
}

/** The fields of a received deliver_sm the connector reads. short_message and message_payload are the bytes as sent. */
export interface DeliverSmFields {
  sequence_number: number;
  source_addr: string;
  esm_class: number;
  data_coding: number;
  short_message: Buffer;
  receipted_message_id?: string;
  message_state?: number;
  message_payload?: Buffer;
}

/** A decoding error: the PDU is malformed. */
export class SmppWireError extends Error {}

function writeHeader(buf: Buffer, commandId: number, status: number, sequence: number): void {
  buf.writeUInt32BE(buf.length, 0);
  buf.writeUInt32BE(commandId, 4);
  buf.writeUInt32BE(status, 8);
  buf.writeUInt32BE(sequence, 12);
}

function writeCString(buf: Buffer, value: string, offset: number): number {
  offset += buf.write(value, offset, 'latin1');
  buf[offset] = 0;
  return offset + 1;
}

/** submit_sm with SMPP 3.4's field order; byte for byte what `new smpp.PDU('submit_sm', fields).toBuffer()` gives. */
export function encodeSubmitSm(sequence: number, f: SubmitSmFields): Buffer {
  const sm = f.short_message;
  if (sm.length > 254) throw new RangeError(`short_message of ${sm.length} bytes; at most 254 fit`);
  // service_type, schedule_delivery_time and validity_period are empty C-strings (1 byte each).
  const length = HEADER_LENGTH + 1 + 2 + f.source_addr.length + 1 + 2 + f.destination_addr.length + 1 + 3 + 1 + 1 + 5 + sm.length;
  const buf = Buffer.allocUnsafe(length);
  writeHeader(buf, SUBMIT_SM, 0, sequence);
  let o = HEADER_LENGTH;
  buf[o++] = 0; // service_type
  buf[o++] = f.source_addr_ton;
  buf[o++] = f.source_addr_npi;
  o = writeCString(buf, f.source_addr, o);
  buf[o++] = f.dest_addr_ton;
  buf[o++] = f.dest_addr_npi;
  o = writeCString(buf, f.destination_addr, o);
  buf[o++] = f.esm_class;
  buf[o++] = 0; // protocol_id
  buf[o++] = 0; // priority_flag
  buf[o++] = 0; // schedule_delivery_time
  buf[o++] = 0; // validity_period
  buf[o++] = f.registered_delivery;
  buf[o++] = 0; // replace_if_present_flag
  buf[o++] = f.data_coding;
  buf[o++] = 0; // sm_default_msg_id
  buf[o++] = sm.length;
  sm.copy(buf, o);
  return buf;
}

/** A response of header and, when `messageId` is given and the status is 0, a message_id C-string (as the package writes a response). */
export function encodeResponse(commandId: number, status: number, sequence: number, messageId?: string): Buffer {
  const body = messageId !== undefined && status === 0 ? Buffer.byteLength(messageId, 'latin1') + 1 : 0;
  const buf = Buffer.allocUnsafe(HEADER_LENGTH + body);
  writeHeader(buf, commandId, status, sequence);
  if (body > 0) writeCString(buf, messageId!, HEADER_LENGTH);
  return buf;
}

/** Reads C-strings and octets from one PDU, failing on a field that runs past the PDU's end. */
class Reader {
  constructor(
    private readonly buf: Buffer,
    public o: number,
    private readonly end: number,
  ) {}

  u8(): number {
    if (this.o >= this.end) throw new SmppWireError('PDU ends inside a field');
    return this.buf[this.o++]!;
  }

  cstring(): string {
    const i = this.buf.indexOf(0, this.o);
    if (i < 0 || i >= this.end) throw new SmppWireError('C-string without its terminating NUL');
    const s = this.buf.toString('latin1', this.o, i);
    this.o = i + 1;
    return s;
  }

  skipCString(): void {
    const i = this.buf.indexOf(0, this.o);
    if (i < 0 || i >= this.end) throw new SmppWireError('C-string without its terminating NUL');
    this.o = i + 1;
  }

  octets(n: number): Buffer {
    if (this.o + n > this.end) throw new SmppWireError('PDU ends inside a field');
    const b = this.buf.subarray(this.o, this.o + n);
    this.o += n;
    return b;
  }

  get left(): number {
    return this.end - this.o;
  }
}

/** The message_id of a submit_sm_resp (`pdu` is the whole PDU, header included); undefined when it has no body. */
export function decodeSubmitSmResp(pdu: Buffer): string | undefined {
  if (pdu.length <= HEADER_LENGTH) return undefined;
  return new Reader(pdu, HEADER_LENGTH, pdu.length).cstring();
}

/**
 * A deliver_sm's fields (`pdu` is the whole PDU, header included). Its short_message and
 * message_payload are copied out, so the fields do not hold on to the socket's read buffer.
 */
export function decodeDeliverSm(pdu: Buffer): DeliverSmFields {
  const r = new Reader(pdu, HEADER_LENGTH, pdu.length);
  r.skipCString(); // service_type
  r.u8(); // source_addr_ton
  r.u8(); // source_addr_npi
  const source_addr = r.cstring();
  r.u8(); // dest_addr_ton
  r.u8(); // dest_addr_npi
  r.skipCString(); // destination_addr
  const esm_class = r.u8();
  r.u8(); // protocol_id
  r.u8(); // priority_flag
  r.skipCString(); // schedule_delivery_time
  r.skipCString(); // validity_period
  r.u8(); // registered_delivery
  r.u8(); // replace_if_present_flag
  const data_coding = r.u8();
  r.u8(); // sm_default_msg_id
  const short_message = Buffer.from(r.octets(r.u8()));
  const fields: DeliverSmFields = { sequence_number: pdu.readUInt32BE(12), source_addr, esm_class, data_coding, short_message };
  while (r.left > 0) {
    if (r.left < 4) throw new SmppWireError('TLV header cut short');
    const tag = (r.u8() << 8) | r.u8();
    const length = (r.u8() << 8) | r.u8();
    const value = r.octets(length);
    if (tag === TLV_RECEIPTED_MESSAGE_ID) {
      const nul = value.indexOf(0);
      fields.receipted_message_id = value.toString('latin1', 0, nul < 0 ? value.length : nul);
    } else if (tag === TLV_MESSAGE_STATE && length >= 1) fields.message_state = value[0];
    else if (tag === TLV_MESSAGE_PAYLOAD) fields.message_payload = Buffer.from(value);
  }
  return fields;
}

export interface SmppLinkHandlers {
  connect(): void;
  error(err: Error): void;
  close(): void;
  submitResp(sequence: number, status: number, messageId: string | undefined): void;
  deliverSm(fields: DeliverSmFields): void;
  /** Any other PDU, decoded by the `smpp` package. */
  pdu(pdu: smpp.PDU): void;
}

/**
 * One SMPP connection. What is sent in one turn of the event loop leaves in one write; received
 * bytes are framed by command_length and each PDU handed to the handler for its kind. A framing or
 * decoding error is reported through `error` and the socket is destroyed, since the stream's
 * position can no longer be trusted.
 */
export class SmppLink {
  readonly socket: Socket;
  private sequence = 0;
  private readonly callbacks = new Map<number, (pdu: smpp.PDU) => void>();
  private outgoing: Buffer[] = [];
  private flushQueued = false;
  private leftover?: Buffer;

  constructor(
    options: { host: string; port: number },
    private readonly on: SmppLinkHandlers,
  ) {
    this.socket = connect({ host: options.host, port: options.port });
    this.socket.setNoDelay(true);
    this.socket.on('connect', () => this.on.connect());
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err) => this.on.error(err));
    this.socket.on('close', () => this.on.close());
  }

  get writable(): boolean {
    return this.socket.writable;
  }

  /** The next sequence number (1 to 0x7FFFFFFF, then round again), for a request this side sends. */
  nextSequence(): number {
    if (this.sequence === 0x7fffffff) this.sequence = 0;
    return ++this.sequence;
  }

  /** Queues an encoded PDU for this turn's write. False (and nothing queued) when the socket is no longer writable. */
  write(pdu: Buffer): boolean {
    if (!this.socket.writable) return false;
    this.outgoing.push(pdu);
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(() => this.flush());
    }
    return true;
  }

  /** Sends a request through the package's codec; `onResponse` gets its response. */
  request(command: string, fields: smpp.PduFields, onResponse?: (pdu: smpp.PDU) => void): boolean {
    if (!this.socket.writable) return false;
    const pdu = new smpp.PDU(command, { ...fields, sequence_number: this.nextSequence() });
    if (onResponse) this.callbacks.set(pdu.sequence_number, onResponse);
    return this.write(pdu.toBuffer());
  }

  /** Writes what is queued and then `pdu`, and calls `done` once it has been handed to the kernel. */
  writeThen(pdu: Buffer, done: () => void): boolean {
    if (!this.socket.writable) return false;
    this.outgoing.push(pdu);
    this.flush(done);
    return true;
  }

  destroy(): void {
    this.outgoing = [];
    this.socket.destroy();
  }

  private flush(done?: () => void): void {
    this.flushQueued = false;
    const out = this.outgoing;
    if (out.length === 0 || !this.socket.writable) {
      this.outgoing = [];
      return;
    }
    this.outgoing = [];
    this.socket.write(out.length === 1 ? out[0]! : Buffer.concat(out), done && (() => done()));
  }

  private onData(chunk: Buffer): void {
    let buf = chunk;
    if (this.leftover) {
      buf = Buffer.concat([this.leftover, chunk]);
      this.leftover = undefined;
    }
    let o = 0;
    try {
      while (buf.length - o >= HEADER_LENGTH) {
        const length = buf.readUInt32BE(o);
        if (length < HEADER_LENGTH || length > MAX_PDU_LENGTH) throw new SmppWireError(`command_length ${length} is out of range`);
        if (buf.length - o < length) break;
        this.dispatch(buf.subarray(o, o + length));
        o += length;
        if (this.socket.destroyed) return;
      }
    } catch (err) {
      this.on.error(err instanceof Error ? err : new Error(String(err)));
      this.destroy();
      return;
    }
    // A partial PDU is copied: a subarray would keep the whole read buffer alive until the rest arrives.
    if (o < buf.length) this.leftover = Buffer.from(buf.subarray(o));
  }

  private dispatch(pdu: Buffer): void {
    const commandId = pdu.readUInt32BE(4);
    const status = pdu.readUInt32BE(8);
    const sequence = pdu.readUInt32BE(12);
    if (commandId === SUBMIT_SM_RESP) {
      this.on.submitResp(sequence, status, status === 0 ? decodeSubmitSmResp(pdu) : undefined);
      return;
    }
    if (commandId === DELIVER_SM) {
      this.on.deliverSm(decodeDeliverSm(pdu));
      return;
    }
    if (!smpp.commandsById[commandId]) {
      // A request for a command this side does not know is answered as SMPP 3.4 §2.4 says; an unknown response is dropped.
      if ((commandId & RESPONSE_BIT) === 0) this.write(encodeResponse(GENERIC_NACK, ESME_RINVCMDID, sequence));
      return;
    }
    let decoded: smpp.PDU;
    try {
      decoded = new smpp.PDU(Buffer.from(pdu));
    } catch {
      if ((commandId & RESPONSE_BIT) === 0) this.write(encodeResponse(GENERIC_NACK, ESME_RINVCMDLEN, sequence));
      return;
    }
    if (decoded.isResponse()) {
      const callback = this.callbacks.get(sequence);
      if (callback) {
        this.callbacks.delete(sequence);
        this.on.pdu(decoded);
        callback(decoded);
        return;
      }
    }
    this.on.pdu(decoded);
  }
}
