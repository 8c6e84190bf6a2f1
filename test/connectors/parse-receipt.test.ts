import { expect } from 'chai';
import * as smpp from 'smpp';
import { DeliveryReceipt } from '../../control-plane/src/connectors/carrier';
import { parseReceiptText, receiptFromDeliverSm } from '../../control-plane/src/connectors/smpp-connector';
import { decodeDeliverSm, DeliverSmFields } from '../../control-plane/src/connectors/smpp-wire';

const standard = (stat: string, extra = '') =>
  `id:0A1B2C sub:001 dlvrd:001 submit date:2401311215 done date:2401311216 stat:${stat} err:000 text:Hello${extra}`;

/** Encodes and decodes a deliver_sm with the library, as the connector would receive it. */
/** A deliver_sm as the package encodes it, decoded as the connector decodes it. */
const received = (fields: smpp.PduFields): DeliverSmFields => decodeDeliverSm(new smpp.PDU('deliver_sm', { sequence_number: 1, ...fields }).toBuffer());

describe('parseReceiptText', () => {
  const statuses: Array<[string, DeliveryReceipt['status'], boolean]> = [
    ['DELIVRD', 'DELIVERED', true],
    ['UNDELIV', 'UNDELIVERABLE', true],
    ['EXPIRED', 'EXPIRED', true],
    ['REJECTD', 'REJECTED', true],
    ['DELETED', 'DELETED', true],
    ['UNKNOWN', 'UNKNOWN', true],
    ['ACCEPTD', 'ACCEPTED', false],
    ['ENROUTE', 'ENROUTE', false],
  ];
  for (const [stat, status, final] of statuses) {
    it(`maps stat:${stat} to ${status}${final ? ', final' : ', not final'}`, () => {
      expect(parseReceiptText(standard(stat))).to.include({ carrierMessageId: '0A1B2C', status, final });
    });
  }

  it('reads the error code and both dates as UTC ISO timestamps, and keeps the raw text', () => {
    const text = standard('UNDELIV').replace('err:000', 'err:034');
    expect(parseReceiptText(text)).to.deep.equal({
      carrierMessageId: '0A1B2C',
      status: 'UNDELIVERABLE',
      final: true,
      errorCode: '034',
      submittedAt: '2024-01-31T12:15:00.000Z',
      doneAt: '2024-01-31T12:16:00.000Z',
      raw: text,
    });
  });

  const variants: Array<[string, string, Partial<DeliveryReceipt>]> = [
    ['keys in any case and a lower-case stat', 'Id:77 Sub:001 Dlvrd:001 Submit Date:2401311215 Done Date:2401311216 Stat:delivrd Err:000 Text:x', { carrierMessageId: '77', status: 'DELIVERED' }],
    ['dates with seconds', 'id:1 submit date:240131121559 done date:240131121600 stat:DELIVRD', { submittedAt: '2024-01-31T12:15:59.000Z', doneAt: '2024-01-31T12:16:00.000Z' }],
    ['full words instead of codes', 'id:1 stat:UNDELIVERABLE', { status: 'UNDELIVERABLE' }],
    ['an unknown stat', 'id:1 stat:WHATEVER err:000', { status: 'UNKNOWN', final: true }],
    ['a "stat:" inside the echoed text', standard('DELIVRD', ' stat:UNDELIV id:evil'), { carrierMessageId: '0A1B2C', status: 'DELIVERED' }],
    ['no text field at all', 'id:abc-123 sub:001 dlvrd:000 stat:EXPIRED err:001', { carrierMessageId: 'abc-123', status: 'EXPIRED', errorCode: '001' }],
  ];
  for (const [what, text, expected] of variants) {
    it(`parses receipts with ${what}`, () => {
      expect(parseReceiptText(text)).to.include(expected);
    });
  }

  it('leaves out dates that are not valid dates instead of guessing', () => {
    const receipt = parseReceiptText('id:1 submit date:2402311215 done date:24013112 stat:DELIVRD');
    expect(receipt).to.not.have.property('submittedAt');
    expect(receipt).to.not.have.property('doneAt');
  });

  const notReceipts: Array<[string, string]> = [
    ['there is no stat', 'id:1 sub:001 dlvrd:001 err:000'],
    ['there is no id', 'sub:001 dlvrd:001 stat:DELIVRD err:000'],
    ['the id is only inside the echoed text', 'stat:DELIVRD text:id:1'],
    ['it is a plain text message', 'See you at 8, bring the stat: sheet'],
    ['it is empty', ''],
  ];
  for (const [why, text] of notReceipts) {
    it(`fails when ${why}: returns undefined`, () => {
      expect(parseReceiptText(text)).to.equal(undefined);
    });
  }
});

describe('receiptFromDeliverSm', () => {
  it('prefers the receipted_message_id and message_state TLVs over the text', () => {
    const pdu = received({
      esm_class: 0x04,
      data_coding: 0,
      short_message: Buffer.from(standard('DELIVRD'), 'ascii'),
      receipted_message_id: 'TLV-ID',
      message_state: 5,
    });
    expect(receiptFromDeliverSm(pdu)).to.include({ carrierMessageId: 'TLV-ID', status: 'UNDELIVERABLE', final: true, errorCode: '000' });
  });

  it('reads the receipt from message_payload when short_message is empty', () => {
    const pdu = received({ esm_class: 0x04, data_coding: 0, message_payload: Buffer.from(standard('EXPIRED'), 'ascii') });
    expect(receiptFromDeliverSm(pdu)).to.include({ carrierMessageId: '0A1B2C', status: 'EXPIRED' });
  });

  it('undoes the GSM decoding the library applies to data_coding 0, so ids keep "_" "@" "$"', () => {
    const pdu = received({ esm_class: 0x04, data_coding: 0, short_message: Buffer.from('id:a_b@c$d stat:DELIVRD err:000 text:', 'ascii') });
    expect(receiptFromDeliverSm(pdu)).to.include({ carrierMessageId: 'a_b@c$d' });
  });

  it('keeps the short_message of a received deliver_sm as the bytes sent', () => {
    const bytes = Buffer.from('id:a_b@c$d stat:DELIVRD err:000 text:', 'ascii');
    expect(received({ esm_class: 0x04, data_coding: 0, short_message: bytes }).short_message).to.deep.equal(bytes);
  });

  it('reads a UCS-2 receipt text (data_coding 8)', () => {
    const pdu = received({ esm_class: 0x04, data_coding: 8, short_message: Buffer.from(standard('REJECTD'), 'utf16le').swap16() });
    expect(receiptFromDeliverSm(pdu)).to.include({ carrierMessageId: '0A1B2C', status: 'REJECTED', errorCode: '000' });
  });

  it('skips a UDH before the receipt text when UDHI is set', () => {
    const udh = Buffer.from([0x05, 0x00, 0x03, 0x2a, 0x01, 0x01]);
    const pdu = received({ esm_class: 0x04 | 0x40, data_coding: 0, short_message: Buffer.concat([udh, Buffer.from('id:Z9 stat:UNDELIV err:001 text:', 'ascii')]) });
    expect(receiptFromDeliverSm(pdu)).to.include({ carrierMessageId: 'Z9', status: 'UNDELIVERABLE', errorCode: '001' });
  });

  it('fails when neither TLVs nor text carry a status: returns undefined', () => {
    const pdu = received({ esm_class: 0x04, data_coding: 0, short_message: Buffer.from('id:1 err:000', 'ascii') });
    expect(receiptFromDeliverSm(pdu)).to.equal(undefined);
  });
});
