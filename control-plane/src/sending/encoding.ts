/**
 * SMS content analysis: which alphabet a text needs, how many segments it costs, and the
 * per-segment payloads handed to SMPP.
 *
 * Written by hand rather than taken from the `smpp` package: its GSM coder silently turns every
 * unknown character into a space and accepts a raw ESC (0x1B) as text, and it counts no segments.
 * Billing and the MAX_SEGMENTS cap need the exact count, and that count must come from the same
 * boundaries that `splitForSmpp` cuts on, so both live here on one packing function.
 *
 * Only the GSM 03.38 default alphabet and its default extension table are used. National
 * language shift tables (Turkish, Spanish, Portuguese…) are not: support for them on handsets
 * and carriers is patchy, and a text that needs one is sent as UCS-2 instead.
 */

export type SmsEncoding = 'gsm7' | 'ucs2';

export interface ContentAnalysis {
  encoding: SmsEncoding;
  /** Septets for gsm7 (an extension character counts 2), UTF-16 code units for ucs2. */
  units: number;
  /** At least 1: an empty text is still one (empty) message on the wire, see `analyzeContent`. */
  segments: number;
  /** Capacity of each segment in `units`: 160/70 for a single segment, 153/67 once concatenated. */
  perSegment: number;
}

export interface SmppPayload {
  encoding: SmsEncoding;
  /** SMPP `data_coding`: 0 = SMSC default alphabet (GSM 03.38, unpacked), 8 = UCS-2. */
  dataCoding: 0 | 8;
  /** One short_message body per segment, without UDH; `buildUdh` makes the header when there are several. */
  parts: Buffer[];
}

/** The most segments one message may have; longer content is refused upstream. */
export const MAX_SEGMENTS = 10;

export const GSM7_SINGLE_SEGMENT_SEPTETS = 160;
/** 160 minus the 7 septets taken by the 6-octet concatenation UDH. */
export const GSM7_MULTI_SEGMENT_SEPTETS = 153;
export const UCS2_SINGLE_SEGMENT_UNITS = 70;
/** 140 octets minus the 6-octet UDH, halved; 67 code units = 134 octets. */
export const UCS2_MULTI_SEGMENT_UNITS = 67;

const ESCAPE = 0x1b;

/**
 * GSM 03.38 default alphabet, indexed by septet value. Position 0x1B is the escape to the
 * extension table, not a character, so it is skipped when building the lookup.
 */
const GSM7_BASIC_TABLE =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u001bÆæßÉ' +
  ' !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§' +
  '¿abcdefghijklmnopqrstuvwxyzäöñüà';

/** Characters of the default extension table, sent as ESC followed by this septet. */
const GSM7_EXTENSION_TABLE: ReadonlyArray<readonly [string, number]> = [
  ['\f', 0x0a],
  ['^', 0x14],
  ['{', 0x28],
  ['}', 0x29],
  ['\\', 0x2f],
  ['[', 0x3c],
  ['~', 0x3d],
  [']', 0x3e],
  ['|', 0x40],
  ['€', 0x65],
];

// A typo in the table literal would silently shift every septet after it.
if (GSM7_BASIC_TABLE.length !== 128) throw new Error(`GSM 03.38 table has ${GSM7_BASIC_TABLE.length} entries, expected 128`);

const GSM7_BASIC = new Map<string, number>();
for (let septet = 0; septet < 128; septet++) {
  if (septet !== ESCAPE) GSM7_BASIC.set(GSM7_BASIC_TABLE.charAt(septet), septet);
}
const GSM7_EXTENSION = new Map<string, number>(GSM7_EXTENSION_TABLE);

/** Septets a character takes in GSM-7 (1 or 2), or 0 when it is not in the alphabet. */
function gsm7Septets(char: string): 0 | 1 | 2 {
  if (GSM7_BASIC.has(char)) return 1;
  if (GSM7_EXTENSION.has(char)) return 2;
  return 0;
}

/**
 * Indivisible pieces of the text with their cost in units: characters for gsm7 (an escape pair
 * is one piece of 2), code points for ucs2 (a surrogate pair is one piece of 2; a lone surrogate
 * is a piece of 1 so that any JavaScript string can be measured).
 */
interface Piece {
  text: string;
  units: number;
}

function toPieces(text: string): { encoding: SmsEncoding; pieces: Piece[] } {
  // `for…of` walks code points, so a surrogate pair is never torn apart here.
  const chars = Array.from(text);
  const septets = chars.map(gsm7Septets);
  if (septets.every((n) => n > 0)) {
    return { encoding: 'gsm7', pieces: chars.map((c, i) => ({ text: c, units: septets[i]! })) };
  }
  return { encoding: 'ucs2', pieces: chars.map((c) => ({ text: c, units: c.length })) };
}

/**
 * Greedy packing into segments. With pieces of 1 or 2 units, filling each segment as far as it
 * goes is optimal, so this is the true minimum count and not an estimate like ceil(units/153).
 */
function pack(encoding: SmsEncoding, pieces: Piece[]): { segments: Piece[][]; units: number; perSegment: number } {
  const units = pieces.reduce((sum, p) => sum + p.units, 0);
  const single = encoding === 'gsm7' ? GSM7_SINGLE_SEGMENT_SEPTETS : UCS2_SINGLE_SEGMENT_UNITS;
  if (units <= single) return { segments: [pieces], units, perSegment: single };

  const perSegment = encoding === 'gsm7' ? GSM7_MULTI_SEGMENT_SEPTETS : UCS2_MULTI_SEGMENT_UNITS;
  const segments: Piece[][] = [];
  let current: Piece[] = [];
  let used = 0;
  for (const piece of pieces) {
    if (used + piece.units > perSegment) {
      segments.push(current);
      current = [];
      used = 0;
    }
    current.push(piece);
    used += piece.units;
  }
  segments.push(current);
  return { segments, units, perSegment };
}

/**
 * Picks the encoding and counts units and segments.
 *
 * An empty text is reported as 1 segment of 0 units rather than 0 segments: it would still be one
 * submit_sm on the wire, and it keeps `splitForSmpp(t).parts.length === analyzeContent(t).segments`
 * true for every string. Rejecting empty content is the API validation's job, not this function's.
 *
 * The MAX_SEGMENTS cap is not enforced here so that callers can report the actual count.
 */
export function analyzeContent(text: string): ContentAnalysis {
  const { encoding, pieces } = toPieces(text);
  const { segments, units, perSegment } = pack(encoding, pieces);
  return { encoding, units, segments: segments.length, perSegment };
}

/**
 * GSM 03.38 in unpacked form, one septet per octet, extension characters as 0x1B + septet: what
 * SMPP expects for data_coding 0 (the SMSC packs septets itself for the air interface).
 *
 * @throws RangeError naming the first character that has no GSM-7 representation.
 */
export function encodeGsm7(text: string): Buffer {
  const bytes: number[] = [];
  let index = 0;
  for (const char of text) {
    const basic = GSM7_BASIC.get(char);
    if (basic !== undefined) {
      bytes.push(basic);
    } else {
      const extended = GSM7_EXTENSION.get(char);
      if (extended === undefined) {
        const codePoint = char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
        throw new RangeError(
          `character ${JSON.stringify(char)} (U+${codePoint}) at index ${index} is not in the GSM 03.38 alphabet; send the text as UCS-2`,
        );
      }
      bytes.push(ESCAPE, extended);
    }
    index += char.length;
  }
  return Buffer.from(bytes);
}

/**
 * UTF-16 big-endian, which is what carriers accept as "UCS-2" (data_coding 8); characters outside
 * the BMP go through as surrogate pairs, which handsets reassemble.
 */
export function encodeUcs2(text: string): Buffer {
  // Node has no utf16be codec; encode little-endian and swap byte pairs.
  return Buffer.from(text, 'utf16le').swap16();
}

/** Per-segment payloads, cut on exactly the boundaries `analyzeContent` counts. */
export function splitForSmpp(text: string): SmppPayload {
  const { encoding, pieces } = toPieces(text);
  const { segments } = pack(encoding, pieces);
  const encode = encoding === 'gsm7' ? encodeGsm7 : encodeUcs2;
  return {
    encoding,
    dataCoding: encoding === 'gsm7' ? 0 : 8,
    parts: segments.map((segment) => encode(segment.map((p) => p.text).join(''))),
  };
}

/**
 * Concatenation UDH with an 8-bit reference (IEI 0x00): `05 00 03 ref total seq`. Send it with
 * esm_class UDHI set, prepended to each part, only when there are two or more parts.
 *
 * @param ref reference shared by all parts of one message, 0–255
 * @param total number of parts, 2–255
 * @param seq this part's position, 1-based, 1–total
 */
export function buildUdh(ref: number, total: number, seq: number): Buffer {
  if (!Number.isInteger(ref) || ref < 0 || ref > 255) throw new RangeError(`UDH reference ${ref} must be an integer from 0 to 255`);
  if (!Number.isInteger(total) || total < 2 || total > 255) {
    throw new RangeError(`UDH total ${total} must be an integer from 2 to 255; a single-part message has no UDH`);
  }
  if (!Number.isInteger(seq) || seq < 1 || seq > total) throw new RangeError(`UDH sequence ${seq} must be an integer from 1 to ${total}`);
  return Buffer.from([0x05, 0x00, 0x03, ref, total, seq]);
}
