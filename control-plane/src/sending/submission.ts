import { DomainError, ErrorItem } from '../errors';
import { short } from '../http/jsonapi';
import { analyzeContent, ContentAnalysis, MAX_SEGMENTS } from './encoding';

export const MAX_BULK_DESTINATIONS = 1000;
/** Destinations are E.164 digits without "+"; 3 to 15 digits also admits short codes. */
const DESTINATION = /^[0-9]{3,15}$/;
const SOURCE = /^[0-9]{3,15}$/;

export interface Submission {
  destinations: string[];
  source: string;
  content: string;
  analysis: ContentAnalysis;
}

const bad = (detail: string, pointer: string, code = 'INVALID_ATTRIBUTE'): ErrorItem => ({ code, title: 'Bad Request', detail, pointer });

function digitsProblem(v: unknown, what: string): string | undefined {
  if (typeof v !== 'string') return `${what} must be a string of digits, got ${short(v)}`;
  if (v.startsWith('+')) return `${what} ${short(v)} must not start with "+"; send E.164 digits only, e.g. 15551234567`;
  if (!DESTINATION.test(v)) return `${what} ${short(v)} must be 3 to 15 digits (E.164 without "+")`;
  return undefined;
}

/**
 * Validates a DIDWW outbound message document. Unknown attributes (e.g. `callback_url`, which some
 * DIDWW clients send) are ignored as DIDWW does; everything else wrong is a 400 with a pointer.
 */
export function parseSubmission(body: unknown, type: 'outbound_messages' | 'bulk_outbound_messages'): Submission {
  const fail = (items: ErrorItem[]): never => {
    throw new DomainError('invalid_input', items);
  };
  if (typeof body !== 'object' || body === null || Array.isArray(body)) fail([bad('The body must be a JSON:API document {"data": {...}}', '', 'INVALID_DOCUMENT')]);
  const data = (body as Record<string, unknown>).data as Record<string, unknown> | undefined;
  if (typeof data !== 'object' || data === null || Array.isArray(data)) fail([bad('The document must have a "data" object', '/data', 'INVALID_DOCUMENT')]);
  if (data!.type !== type) fail([bad(`type is invalid: expected "${type}"`, '/data/type', 'INVALID_TYPE')]);
  const a = data!.attributes as Record<string, unknown> | undefined;
  if (typeof a !== 'object' || a === null || Array.isArray(a)) fail([bad('attributes must be an object', '/data/attributes', 'INVALID_DOCUMENT')]);
  const attrs = a!;
  const errors: ErrorItem[] = [];
  const p = (k: string) => `/data/attributes/${k}`;

  let destinations: string[] = [];
  if (type === 'outbound_messages') {
    const problem = attrs.destination === undefined || attrs.destination === '' ? 'destination is required' : digitsProblem(attrs.destination, 'destination');
    if (problem) errors.push(bad(problem, p('destination')));
    else destinations = [attrs.destination as string];
  } else if (!Array.isArray(attrs.destination)) {
    errors.push(bad(`destination must be an array of 1 to ${MAX_BULK_DESTINATIONS} numbers, got ${short(attrs.destination)}`, p('destination')));
  } else if (attrs.destination.length < 1 || attrs.destination.length > MAX_BULK_DESTINATIONS) {
    errors.push(bad(`destination must hold 1 to ${MAX_BULK_DESTINATIONS} numbers, got ${attrs.destination.length}`, p('destination'), 'TOO_MANY_DESTINATIONS'));
  } else {
    attrs.destination.forEach((d, i) => {
      const problem = digitsProblem(d, `destination[${i}]`);
      if (problem && errors.length < 20) errors.push(bad(problem, `${p('destination')}/${i}`));
    });
    if (errors.length === 0) destinations = attrs.destination as string[];
  }

  if (attrs.source === undefined || attrs.source === '' || attrs.source === null) {
    errors.push(
      bad(
        attrs.campaign_id !== undefined ? 'campaign_id (A2P sender IDs) is not supported by this platform; send source, a DID allowed on the trunk' : 'source is required: a DID allowed on the trunk',
        p('source'),
      ),
    );
  } else if (typeof attrs.source !== 'string' || !SOURCE.test(attrs.source)) {
    errors.push(bad(digitsProblem(attrs.source, 'source') ?? `source ${short(attrs.source)} must be digits`, p('source')));
  }

  let analysis: ContentAnalysis | undefined;
  const content = attrs.content;
  if (typeof content !== 'string' || content.length === 0) {
    errors.push(bad(content === undefined || content === '' ? 'content is required and must not be empty' : `content must be a string, got ${short(content)}`, p('content')));
  } else if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(content)) {
    errors.push(bad('content holds an unpaired UTF-16 surrogate; send valid Unicode text', p('content')));
  } else if (content.includes('\u0000')) {
    // Other control characters are sent (as UCS-2); NUL is no text, and PostgreSQL cannot store it.
    errors.push(bad('content holds a NUL character (U+0000); remove it', p('content')));
  } else {
    analysis = analyzeContent(content);
    if (analysis.segments > MAX_SEGMENTS) {
      errors.push(
        bad(
          `content needs ${analysis.segments} ${analysis.encoding === 'gsm7' ? 'GSM-7' : 'UCS-2'} segments; at most ${MAX_SEGMENTS} are allowed (${analysis.encoding === 'gsm7' ? '1530 GSM-7 characters' : '670 UCS-2 units'})`,
          p('content'),
          'CONTENT_TOO_LONG',
        ),
      );
    }
  }
  if (errors.length) fail(errors);
  return { destinations, source: attrs.source as string, content: content as string, analysis: analysis! };
}
