import { DeliveryReceipt, ReceiptStatus, isFinalReceiptStatus } from './carrier';

/**
 * SMPP delivery receipts. The text format is only an appendix in SMPP 3.4 ("Appendix B"), so
 * SMSCs vary: keys in any case, dates with or without seconds, full words instead of the
 * seven-letter codes. The parser accepts those variations and ignores everything after `text:`,
 * which echoes the start of the user's message and may itself contain "stat:".
 */

const STAT_CODES: Record<string, ReceiptStatus> = {
  DELIVRD: 'DELIVERED',
  DELIVERED: 'DELIVERED',
  UNDELIV: 'UNDELIVERABLE',
  UNDELIVERABLE: 'UNDELIVERABLE',
  EXPIRED: 'EXPIRED',
  REJECTD: 'REJECTED',
  REJECTED: 'REJECTED',
  DELETED: 'DELETED',
  UNKNOWN: 'UNKNOWN',
  ACCEPTD: 'ACCEPTED',
  ACCEPTED: 'ACCEPTED',
  ENROUTE: 'ENROUTE',
};

/** TLV message_state (0x0427) values, SMPP 3.4 §5.2.28. */
const MESSAGE_STATES: Record<number, ReceiptStatus> = {
  1: 'ENROUTE',
  2: 'DELIVERED',
  3: 'EXPIRED',
  4: 'DELETED',
  5: 'UNDELIVERABLE',
  6: 'ACCEPTED',
  7: 'UNKNOWN',
  8: 'REJECTED',
};

export const receiptStatusFromStat = (stat: string): ReceiptStatus =>
  Object.hasOwn(STAT_CODES, stat.toUpperCase()) ? STAT_CODES[stat.toUpperCase()] : 'UNKNOWN';

export const receiptStatusFromMessageState = (state: number): ReceiptStatus =>
  Object.hasOwn(MESSAGE_STATES, state) ? MESSAGE_STATES[state] : 'UNKNOWN';

/**
 * `YYMMDDhhmm[ss]` → ISO 8601. Receipts carry no zone; SMSCs in practice use UTC, and that is
 * assumed here. Returns undefined for anything that is not a valid date, rather than guessing.
 */
export function receiptDateToIso(value: string): string | undefined {
  const m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?$/.exec(value);
  if (!m) return undefined;
  const [, yy, mo, dd, hh, mi, ss = '00'] = m;
  const date = new Date(Date.UTC(2000 + Number(yy), Number(mo) - 1, Number(dd), Number(hh), Number(mi), Number(ss)));
  // Date.UTC rolls 31 February over into March; a rolled date is a malformed field.
  if (date.getUTCMonth() !== Number(mo) - 1 || date.getUTCDate() !== Number(dd)) return undefined;
  return date.toISOString();
}

export interface ReceiptTextFields {
  id?: string;
  sub?: string;
  dlvrd?: string;
  submitDate?: string;
  doneDate?: string;
  stat?: string;
  err?: string;
}

/** The key:value fields before `text:`; absent keys stay undefined. */
export function parseReceiptFields(text: string): ReceiptTextFields {
  const cut = text.search(/(^|\s)text:/i);
  const head = cut >= 0 ? text.slice(0, cut) : text;
  const fields: ReceiptTextFields = {};
  const re = /(?:^|\s)(id|sub|dlvrd|submit date|done date|stat|err):(\S*)/gi;
  for (let m = re.exec(head); m; m = re.exec(head)) {
    const key = m[1].toLowerCase();
    const value = m[2];
    if (key === 'id') fields.id ??= value;
    else if (key === 'sub') fields.sub ??= value;
    else if (key === 'dlvrd') fields.dlvrd ??= value;
    else if (key === 'submit date') fields.submitDate ??= value;
    else if (key === 'done date') fields.doneDate ??= value;
    else if (key === 'stat') fields.stat ??= value;
    else if (key === 'err') fields.err ??= value;
  }
  return fields;
}

/**
 * Parses `id:XXXX sub:001 dlvrd:001 submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DELIVRD err:000 text:...`.
 * Returns undefined when the text has no id or no stat: it is then not a receipt.
 */
export function parseReceiptText(text: string): DeliveryReceipt | undefined {
  const f = parseReceiptFields(text);
  if (!f.id || !f.stat) return undefined;
  return buildReceipt(f, f.id, receiptStatusFromStat(f.stat), text);
}

export function buildReceipt(f: ReceiptTextFields, carrierMessageId: string, status: ReceiptStatus, raw: string): DeliveryReceipt {
  const receipt: DeliveryReceipt = { carrierMessageId, status, final: isFinalReceiptStatus(status), raw };
  if (f.err !== undefined && f.err !== '') receipt.errorCode = f.err;
  const submittedAt = f.submitDate ? receiptDateToIso(f.submitDate) : undefined;
  const doneAt = f.doneDate ? receiptDateToIso(f.doneDate) : undefined;
  if (submittedAt) receipt.submittedAt = submittedAt;
  if (doneAt) receipt.doneAt = doneAt;
  return receipt;
}
