import { expect } from 'chai';
import fc from 'fast-check';
import {
  MAX_SEGMENTS,
  analyzeContent,
  buildUdh,
  encodeGsm7,
  encodeUcs2,
  splitForSmpp,
  type ContentAnalysis,
} from '../../control-plane/src/sending/encoding';

// An independent copy of GSM 03.38 (from 3GPP TS 23.038 §6.2.1), so that a slip in the module's
// table shows up as a decoding mismatch instead of being mirrored by the test.
const BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u001bÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const EXTENSION: Record<number, string> = { 0x0a: '\f', 0x14: '^', 0x28: '{', 0x29: '}', 0x2f: '\\', 0x3c: '[', 0x3d: '~', 0x3e: ']', 0x40: '|', 0x65: '€' };

function decodeGsm7(bytes: Buffer): string {
  let text = '';
  for (let i = 0; i < bytes.length; i++) {
    const septet = bytes[i]!;
    if (septet === 0x1b) {
      const ext = EXTENSION[bytes[++i]!];
      if (ext === undefined) throw new Error(`unknown escape at ${i}`);
      text += ext;
    } else {
      if (septet > 0x7f) throw new Error(`not a septet: ${septet}`);
      text += BASIC[septet];
    }
  }
  return text;
}

function decodeUcs2(bytes: Buffer): string {
  if (bytes.length % 2 !== 0) throw new Error('odd UCS-2 length');
  let text = '';
  for (let i = 0; i < bytes.length; i += 2) text += String.fromCharCode(bytes.readUInt16BE(i));
  return text;
}

const emoji = '😀'; // U+1F600: a surrogate pair, 2 UTF-16 units

describe('analyzeContent', () => {
  const cases: Array<[string, string, ContentAnalysis]> = [
    ['plain ASCII of 160 characters fits one segment', 'a'.repeat(160), { encoding: 'gsm7', units: 160, segments: 1, perSegment: 160 }],
    ['plain ASCII of 161 characters needs two segments', 'a'.repeat(161), { encoding: 'gsm7', units: 161, segments: 2, perSegment: 153 }],
    ['153 × 2 characters fill exactly two segments', 'a'.repeat(306), { encoding: 'gsm7', units: 306, segments: 2, perSegment: 153 }],
    ['153 × 2 + 1 characters need a third segment', 'a'.repeat(307), { encoding: 'gsm7', units: 307, segments: 3, perSegment: 153 }],
    ['an extension character counts two septets', '{'.repeat(80), { encoding: 'gsm7', units: 160, segments: 1, perSegment: 160 }],
    ['one extension character too many overflows the single segment', 'a'.repeat(159) + '€', { encoding: 'gsm7', units: 161, segments: 2, perSegment: 153 }],
    // 152 septets + an escape pair would straddle 153: the pair moves whole into segment two.
    ['an escape pair at the segment boundary moves to the next segment', 'a'.repeat(152) + '[' + 'a'.repeat(152), { encoding: 'gsm7', units: 306, segments: 3, perSegment: 153 }],
    ['an escape pair ending exactly on the boundary stays', 'a'.repeat(151) + ']' + 'a'.repeat(153), { encoding: 'gsm7', units: 306, segments: 2, perSegment: 153 }],
    ['the euro sign alone is two septets of GSM-7', '€', { encoding: 'gsm7', units: 2, segments: 1, perSegment: 160 }],
    ['every extension character counts two', '\f^{}\\[~]|€', { encoding: 'gsm7', units: 20, segments: 1, perSegment: 160 }],
    ['a single emoji switches the whole message to UCS-2', 'a'.repeat(60) + emoji, { encoding: 'ucs2', units: 62, segments: 1, perSegment: 70 }],
    ['70 UCS-2 characters fit one segment', 'я'.repeat(70), { encoding: 'ucs2', units: 70, segments: 1, perSegment: 70 }],
    ['71 UCS-2 characters need two segments', 'я'.repeat(71), { encoding: 'ucs2', units: 71, segments: 2, perSegment: 67 }],
    ['134 UCS-2 characters fill exactly two segments', 'я'.repeat(134), { encoding: 'ucs2', units: 134, segments: 2, perSegment: 67 }],
    // 66 units + a pair would take units 67–68: the pair moves whole into segment two.
    ['a surrogate pair at the 67-unit boundary moves to the next segment', 'я'.repeat(66) + emoji + 'я'.repeat(66), { encoding: 'ucs2', units: 134, segments: 3, perSegment: 67 }],
    ['a surrogate pair ending exactly on the boundary stays', 'я'.repeat(65) + emoji + 'я'.repeat(67), { encoding: 'ucs2', units: 134, segments: 2, perSegment: 67 }],
    ['CR and LF are single GSM-7 septets', 'line one\r\nline two\n', { encoding: 'gsm7', units: 19, segments: 1, perSegment: 160 }],
    ['a backtick is not in GSM-7', 'run `ls`', { encoding: 'ucs2', units: 8, segments: 1, perSegment: 70 }],
    ['lowercase c-cedilla is not in GSM-7', 'garçon', { encoding: 'ucs2', units: 6, segments: 1, perSegment: 70 }],
    ['capital C-cedilla is in GSM-7', 'ÇA VA', { encoding: 'gsm7', units: 5, segments: 1, perSegment: 160 }],
    ['the Greek capitals of the table are GSM-7', 'ΔΦΓΛΩΠΨΣΘΞ', { encoding: 'gsm7', units: 10, segments: 1, perSegment: 160 }],
    ['a Greek capital that looks Latin is not GSM-7', 'ΑΒΓ', { encoding: 'ucs2', units: 3, segments: 1, perSegment: 70 }],
    ['lowercase Greek is not GSM-7', 'αβγ', { encoding: 'ucs2', units: 3, segments: 1, perSegment: 70 }],
    ['the whole basic table is GSM-7 except the escape', BASIC.replace('\u001b', ''), { encoding: 'gsm7', units: 127, segments: 1, perSegment: 160 }],
    ['a raw escape character is not text and forces UCS-2', 'a\u001bb', { encoding: 'ucs2', units: 3, segments: 1, perSegment: 70 }],
    ['the empty string is one segment of zero units', '', { encoding: 'gsm7', units: 0, segments: 1, perSegment: 160 }],
  ];
  for (const [name, text, expected] of cases) {
    it(name, () => {
      expect(analyzeContent(text)).to.deep.equal(expected);
    });
  }

  it('reaches the segment cap at 10 × 153 GSM-7 septets and exceeds it one septet later', () => {
    expect(MAX_SEGMENTS).to.equal(10);
    expect(analyzeContent('a'.repeat(153 * MAX_SEGMENTS)).segments).to.equal(MAX_SEGMENTS);
    expect(analyzeContent('a'.repeat(153 * MAX_SEGMENTS + 1)).segments).to.equal(MAX_SEGMENTS + 1);
  });
});

describe('encodeGsm7', () => {
  const cases: Array<[string, number[]]> = [
    ['@', [0x00]],
    ['$', [0x02]],
    ['Ç', [0x09]],
    ['\n', [0x0a]],
    ['\r', [0x0d]],
    ['Δ', [0x10]],
    ['_', [0x11]],
    ['É', [0x1f]],
    ['¤', [0x24]],
    ['¡', [0x40]],
    ['A', [0x41]],
    ['§', [0x5f]],
    ['¿', [0x60]],
    ['à', [0x7f]],
    ['€', [0x1b, 0x65]],
    ['\f', [0x1b, 0x0a]],
    ['|', [0x1b, 0x40]],
    ['a{b}', [0x61, 0x1b, 0x28, 0x62, 0x1b, 0x29]],
  ];
  for (const [text, bytes] of cases) {
    it(`encodes ${JSON.stringify(text)} as ${bytes.map((b) => b.toString(16).padStart(2, '0')).join(' ')}`, () => {
      expect([...encodeGsm7(text)]).to.deep.equal(bytes);
    });
  }

  it('fails when a character is outside the alphabet, naming it and its position', () => {
    expect(() => encodeGsm7('ok ç')).to.throw(RangeError, /"ç" \(U\+00E7\) at index 3/);
    expect(() => encodeGsm7(`a${emoji}`)).to.throw(RangeError, /U\+1F600\) at index 1/);
  });
});

describe('encodeUcs2', () => {
  it('writes UTF-16 big-endian with surrogate pairs as they are', () => {
    expect(encodeUcs2(`я${emoji}`).toString('hex')).to.equal('044fd83dde00');
  });
});

describe('splitForSmpp', () => {
  it('sends a single-segment GSM-7 text as one part with data_coding 0', () => {
    const r = splitForSmpp('Hello €');
    expect(r.encoding).to.equal('gsm7');
    expect(r.dataCoding).to.equal(0);
    expect(r.parts.map((p) => p.toString('hex'))).to.deep.equal(['48656c6c6f201b65']);
  });

  it('cuts GSM-7 into 153-septet parts and never after an escape byte', () => {
    const r = splitForSmpp('a'.repeat(152) + '[' + 'a'.repeat(152));
    expect(r.parts.map((p) => p.length)).to.deep.equal([152, 153, 1]);
    expect(r.parts[0]![151]).to.not.equal(0x1b);
    expect([...r.parts[1]!.subarray(0, 2)]).to.deep.equal([0x1b, 0x3c]);
  });

  it('cuts UCS-2 into 134-byte parts with data_coding 8 and never inside a surrogate pair', () => {
    const r = splitForSmpp('я'.repeat(66) + emoji + 'я'.repeat(66));
    expect(r.dataCoding).to.equal(8);
    expect(r.parts.map((p) => p.length)).to.deep.equal([132, 134, 2]);
    expect(r.parts[1]!.subarray(0, 4).toString('hex')).to.equal('d83dde00');
  });

  // Characters chosen to hit every interesting boundary often: GSM-7 basic and extension
  // characters, BMP non-GSM, astral (surrogate pairs) and lone surrogates. `size: 'max'` because
  // fast-check otherwise keeps strings short, and short strings never reach a segment boundary.
  const gsm7Char = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...BASIC.replace('\u001b', '')) },
    { weight: 1, arbitrary: fc.constantFrom(...Object.values(EXTENSION)) },
  );
  const anyChar = fc.oneof(
    { weight: 6, arbitrary: gsm7Char },
    { weight: 1, arbitrary: fc.constantFrom('ç', '`', 'я', 'Α', emoji, '👍🏽', '\ud83d', '\ude00') },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  );
  const texts = fc.oneof(
    fc.string({ unit: gsm7Char, maxLength: 900, size: 'max' }),
    fc.string({ unit: anyChar, maxLength: 400, size: 'max' }),
    fc.string({ unit: 'binary', maxLength: 200, size: 'max' }),
  );

  it('produces as many parts as analyzeContent counts segments, and the parts decode back to the text', () => {
    fc.assert(
      fc.property(texts, (text) => {
        const analysis = analyzeContent(text);
        const { encoding, dataCoding, parts } = splitForSmpp(text);
        expect(encoding).to.equal(analysis.encoding);
        expect(dataCoding).to.equal(encoding === 'gsm7' ? 0 : 8);
        expect(parts.length).to.equal(analysis.segments);
        const decode = encoding === 'gsm7' ? decodeGsm7 : decodeUcs2;
        expect(parts.map((p) => decode(p)).join('')).to.equal(text);
        const units = parts.reduce((sum, p) => sum + (encoding === 'gsm7' ? p.length : p.length / 2), 0);
        expect(units).to.equal(analysis.units);
        for (const part of parts) {
          expect(encoding === 'gsm7' ? part.length : part.length / 2).to.be.at.most(analysis.perSegment);
          if (encoding === 'gsm7' && part.length > 0) expect(part[part.length - 1], 'escape pair torn').to.not.equal(0x1b);
        }
        if (encoding === 'ucs2') {
          for (let i = 0; i < parts.length - 1; i++) {
            const end = parts[i]!.readUInt16BE(parts[i]!.length - 2);
            const start = parts[i + 1]!.readUInt16BE(0);
            const tornPair = end >= 0xd800 && end <= 0xdbff && start >= 0xdc00 && start <= 0xdfff;
            expect(tornPair, `surrogate pair torn between parts ${i + 1} and ${i + 2}`).to.equal(false);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('buildUdh', () => {
  it('builds the 6-byte concatenation header 05 00 03 ref total seq', () => {
    expect(buildUdh(0xa7, 3, 2).toString('hex')).to.equal('050003a70302');
  });

  const invalid: Array<[string, [number, number, number], RegExp]> = [
    ['the reference is above 255', [256, 2, 1], /reference 256/],
    ['the reference is negative', [-1, 2, 1], /reference -1/],
    ['the total is 1, since a single part has no UDH', [1, 1, 1], /total 1.*no UDH/],
    ['the total is above 255', [1, 256, 1], /total 256/],
    ['the sequence is 0', [1, 2, 0], /sequence 0/],
    ['the sequence is beyond the total', [1, 2, 3], /sequence 3.*1 to 2/],
    ['a value is not an integer', [1.5, 2, 1], /reference 1.5/],
  ];
  for (const [reason, args, message] of invalid) {
    it(`fails when ${reason}`, () => {
      expect(() => buildUdh(...args)).to.throw(RangeError, message);
    });
  }
});
