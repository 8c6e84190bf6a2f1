import { expect } from 'chai';
import { AddressInfo, createServer, Server, Socket } from 'node:net';
import * as smpp from 'smpp';
import {
  decodeDeliverSm,
  decodeSubmitSmResp,
  DELIVER_SM_RESP,
  DeliverSmFields,
  encodeResponse,
  encodeSubmitSm,
  GENERIC_NACK,
  SmppLink,
  SmppLinkHandlers,
  SmppWireError,
  SUBMIT_SM_RESP,
  SubmitSmFields,
} from '../../control-plane/src/connectors/smpp-wire';

/** The package's encoding of the same submit_sm, for comparison. */
const packageSubmitSm = (sequence: number, fields: SubmitSmFields): Buffer => {
  const pdu = new smpp.PDU('submit_sm', { ...fields });
  pdu.sequence_number = sequence;
  return pdu.toBuffer();
};

const base: SubmitSmFields = {
  source_addr_ton: 1,
  source_addr_npi: 1,
  source_addr: '441234567890',
  dest_addr_ton: 1,
  dest_addr_npi: 1,
  destination_addr: '15551234567',
  esm_class: 0,
  registered_delivery: 1,
  data_coding: 0,
  short_message: Buffer.from('Hello'),
};

describe('smpp-wire codec', () => {
  const cases: Array<[string, Partial<SubmitSmFields>]> = [
    ['a short GSM-7 message', {}],
    ['an alphanumeric sender', { source_addr_ton: 5, source_addr_npi: 0, source_addr: 'ACME Ltd' }],
    ['a UCS-2 message', { data_coding: 8, short_message: Buffer.from('d83dde00', 'hex') }],
    ['a part of a long message with its UDH', { esm_class: 0x40, short_message: Buffer.concat([Buffer.from('050003a70201', 'hex'), Buffer.alloc(134, 0x41)]) }],
    ['an empty message', { short_message: Buffer.alloc(0) }],
    ['254 bytes', { data_coding: 4, short_message: Buffer.alloc(254, 0xfe) }],
    ['no receipt asked for', { registered_delivery: 0 }],
  ];
  for (const [name, fields] of cases) {
    it(`encodes submit_sm byte for byte as the smpp package does: ${name}`, () => {
      const f = { ...base, ...fields };
      const ours = encodeSubmitSm(0x7fffffff, f);
      expect(ours.toString('hex')).to.equal(packageSubmitSm(0x7fffffff, f).toString('hex'));
      // and the package reads it back as what was meant
      const back = new smpp.PDU(Buffer.from(ours));
      expect(back).to.include({ command: 'submit_sm', sequence_number: 0x7fffffff, source_addr: f.source_addr, destination_addr: f.destination_addr });
    });
  }

  it('refuses a short_message over 254 bytes (sm_length is one byte)', () => {
    expect(() => encodeSubmitSm(1, { ...base, short_message: Buffer.alloc(255) })).to.throw(RangeError, /255 bytes/);
  });

  it('encodes responses as the package does: deliver_sm_resp ok and refused, generic_nack', () => {
    const deliverSm = new smpp.PDU('deliver_sm', { sequence_number: 42, short_message: Buffer.from('x') });
    expect(encodeResponse(DELIVER_SM_RESP, 0, 42, '').toString('hex')).to.equal(deliverSm.response().toBuffer().toString('hex'));
    expect(encodeResponse(DELIVER_SM_RESP, 0x64, 42, '').toString('hex')).to.equal(deliverSm.response({ command_status: 0x64 }).toBuffer().toString('hex'));
    const nack = new smpp.PDU('generic_nack', { sequence_number: 9, command_status: 3 });
    expect(encodeResponse(GENERIC_NACK, 3, 9).toString('hex')).to.equal(nack.toBuffer().toString('hex'));
  });

  it('decodes a submit_sm_resp message_id, and none from a header-only error response', () => {
    const ok = new smpp.PDU('submit_sm_resp', { sequence_number: 5, message_id: 'abc-123_X' }).toBuffer();
    expect(decodeSubmitSmResp(ok)).to.equal('abc-123_X');
    const refused = new smpp.PDU('submit_sm_resp', { sequence_number: 5, command_status: 0x58 }).toBuffer();
    expect(refused.length).to.equal(16);
    expect(decodeSubmitSmResp(refused)).to.equal(undefined);
  });

  it('decodes a deliver_sm with its TLVs and copies the bytes out of the read buffer', () => {
    const text = 'id:0A1B sub:001 dlvrd:001 submit date:2412041200 done date:2412041201 stat:DELIVRD err:000 text:hi';
    const wire = new smpp.PDU('deliver_sm', {
      sequence_number: 77,
      source_addr: '15551234567',
      destination_addr: '441234567890',
      esm_class: 4,
      data_coding: 3,
      short_message: Buffer.from(text),
      receipted_message_id: '0A1B',
      message_state: 2,
      message_payload: Buffer.from('payload bytes'),
      network_error_code: Buffer.from('030000', 'hex'),
    }).toBuffer();
    const fields: DeliverSmFields = decodeDeliverSm(wire);
    expect(fields).to.deep.include({ sequence_number: 77, source_addr: '15551234567', esm_class: 4, data_coding: 3, receipted_message_id: '0A1B', message_state: 2 });
    expect(fields.short_message.toString('latin1')).to.equal(text);
    expect(fields.message_payload!.toString('latin1')).to.equal('payload bytes');
    wire.fill(0);
    expect(fields.short_message.toString('latin1')).to.equal(text);
    expect(fields.message_payload!.toString('latin1')).to.equal('payload bytes');
  });

  it('fails on a deliver_sm whose fields run past its end, instead of reading the next PDU', () => {
    const wire = new smpp.PDU('deliver_sm', { sequence_number: 1, source_addr: '1555', short_message: Buffer.from('stat:DELIVRD') }).toBuffer();
    const cut = Buffer.from(wire.subarray(0, 22));
    cut.writeUInt32BE(cut.length, 0);
    expect(() => decodeDeliverSm(cut)).to.throw(SmppWireError);
    const tlvCut = Buffer.concat([wire, Buffer.from('0427', 'hex')]);
    tlvCut.writeUInt32BE(tlvCut.length, 0);
    expect(() => decodeDeliverSm(tlvCut)).to.throw(SmppWireError, /TLV/);
  });
});

describe('SmppLink over TCP', () => {
  let server: Server;
  let peer: Promise<Socket>;
  let link: SmppLink | undefined;

  beforeEach(async () => {
    let accept!: (s: Socket) => void;
    peer = new Promise((r) => (accept = r));
    server = createServer((s) => accept(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterEach(async () => {
    link?.destroy();
    link = undefined;
    await new Promise<void>((r) => server.close(() => r()));
  });

  function open(overrides: Partial<SmppLinkHandlers> = {}): { seen: string[]; closed: Promise<void> } {
    const seen: string[] = [];
    let closed!: () => void;
    const closedP = new Promise<void>((r) => (closed = r));
    link = new SmppLink(
      { host: '127.0.0.1', port: (server.address() as AddressInfo).port },
      {
        connect: () => seen.push('connect'),
        error: (err) => seen.push(`error ${err.message}`),
        close: () => closed(),
        submitResp: (seq, status, id) => seen.push(`submit_sm_resp ${seq} ${status} ${id}`),
        deliverSm: (f) => seen.push(`deliver_sm ${f.sequence_number} ${f.receipted_message_id}`),
        pdu: (p) => seen.push(`${p.command} ${p.sequence_number}`),
        ...overrides,
      },
    );
    return { seen, closed: closedP };
  }

  const readFrom = (s: Socket, bytes: number): Promise<Buffer> =>
    new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let n = 0;
      const onData = (c: Buffer) => {
        chunks.push(c);
        n += c.length;
        if (n >= bytes) {
          s.off('data', onData);
          resolve(Buffer.concat(chunks));
        }
      };
      s.on('data', onData);
    });

  it('frames PDUs that arrive a byte at a time and several to a read, and hands each to its handler', async () => {
    const { seen } = open();
    const s = await peer;
    const pdus = Buffer.concat([
      new smpp.PDU('submit_sm_resp', { sequence_number: 1, message_id: 'm1' }).toBuffer(),
      new smpp.PDU('deliver_sm', { sequence_number: 2, esm_class: 4, short_message: Buffer.from('x'), receipted_message_id: 'r2' }).toBuffer(),
      new smpp.PDU('enquire_link', { sequence_number: 3 }).toBuffer(),
      new smpp.PDU('submit_sm_resp', { sequence_number: 4, command_status: 0x58 }).toBuffer(),
    ]);
    // the first two PDUs a byte at a time, the rest in one write
    const split = pdus.readUInt32BE(0) + pdus.readUInt32BE(pdus.readUInt32BE(0));
    for (let i = 0; i < split; i++) {
      s.write(pdus.subarray(i, i + 1));
      await new Promise((r) => setImmediate(r));
    }
    s.write(pdus.subarray(split));
    const deadline = Date.now() + 5000;
    while (seen.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(seen).to.deep.equal(['connect', 'submit_sm_resp 1 0 m1', 'deliver_sm 2 r2', 'enquire_link 3', 'submit_sm_resp 4 88 undefined']);
  });

  it('writes what is sent in one turn in one write, and matches a response to its request', async () => {
    const { seen } = open();
    const s = await peer;
    while (!seen.includes('connect')) await new Promise((r) => setTimeout(r, 5));
    const writes: number[] = [];
    const write = link!.socket.write.bind(link!.socket);
    link!.socket.write = ((chunk: Buffer, ...rest: unknown[]) => {
      writes.push(chunk.length);
      return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof link.socket.write;
    const a = encodeSubmitSm(link!.nextSequence(), base);
    const b = encodeSubmitSm(link!.nextSequence(), base);
    let response: smpp.PDU | undefined;
    expect(link!.write(a)).to.equal(true);
    expect(link!.write(b)).to.equal(true);
    expect(link!.request('enquire_link', {}, (p) => (response = p))).to.equal(true);
    const got = await readFrom(s, a.length + b.length + 16);
    expect(writes).to.deep.equal([a.length + b.length + 16]);
    expect(got.subarray(0, a.length).equals(a)).to.equal(true);
    const enquire = new smpp.PDU(Buffer.from(got.subarray(a.length + b.length)));
    expect(enquire).to.include({ command: 'enquire_link', sequence_number: 3 });
    s.write(new smpp.PDU('enquire_link_resp', { sequence_number: 3 }).toBuffer());
    const deadline = Date.now() + 5000;
    while (!response && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(response).to.include({ command: 'enquire_link_resp', sequence_number: 3 });
  });

  it('answers a request for an unknown command with generic_nack ESME_RINVCMDID and stays up', async () => {
    const { seen } = open();
    const s = await peer;
    const unknown = Buffer.alloc(16);
    unknown.writeUInt32BE(16, 0);
    unknown.writeUInt32BE(0x000000ee, 4);
    unknown.writeUInt32BE(0, 8);
    unknown.writeUInt32BE(31, 12);
    s.write(unknown);
    const nack = await readFrom(s, 16);
    expect(nack.toString('hex')).to.equal(encodeResponse(GENERIC_NACK, 3, 31).toString('hex'));
    s.write(new smpp.PDU('submit_sm_resp', { sequence_number: 32, message_id: 'still-up' }).toBuffer());
    const deadline = Date.now() + 5000;
    while (!seen.includes('submit_sm_resp 32 0 still-up') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(seen).to.include('submit_sm_resp 32 0 still-up');
  });

  it('reports a command_length out of range and closes the connection', async () => {
    const { seen, closed } = open();
    const s = await peer;
    const bad = Buffer.alloc(16);
    bad.writeUInt32BE(8, 0);
    bad.writeUInt32BE(SUBMIT_SM_RESP, 4);
    s.write(bad);
    await closed;
    expect(seen).to.include('error command_length 8 is out of range');
    expect(link!.write(encodeSubmitSm(1, base))).to.equal(false);
  });

  it('reports a malformed deliver_sm and closes, handing nothing over', async () => {
    const { seen, closed } = open();
    const s = await peer;
    const bad = Buffer.alloc(20, 0x41);
    bad.writeUInt32BE(20, 0);
    bad.writeUInt32BE(0x00000005, 4);
    bad.writeUInt32BE(0, 8);
    bad.writeUInt32BE(1, 12);
    s.write(bad);
    await closed;
    expect(seen.filter((e) => e.startsWith('deliver_sm'))).to.deep.equal([]);
    expect(seen.some((e) => e.startsWith('error') && /NUL/.test(e))).to.equal(true);
  });

  it('writeThen sends what is queued, then its PDU, and calls back once written', async () => {
    const { seen } = open();
    const s = await peer;
    while (!seen.includes('connect')) await new Promise((r) => setTimeout(r, 5));
    const a = encodeSubmitSm(link!.nextSequence(), base);
    link!.write(a);
    const resp = new smpp.PDU('unbind', { sequence_number: 7 }).response().toBuffer();
    const written = new Promise<void>((r) => link!.writeThen(resp, r));
    const got = await readFrom(s, a.length + resp.length);
    await written;
    expect(got.equals(Buffer.concat([a, resp]))).to.equal(true);
  });
});
