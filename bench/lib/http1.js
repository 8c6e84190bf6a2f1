'use strict';
/**
 * A minimal HTTP/1.x message reader for the bench rig's raw-socket client (lib/load.js) and
 * callback receiver (receiver.js). node:http costs tens of microseconds of CPU per request on each
 * side, and the rig shares the machine with the systems it measures, so every microsecond it
 * spends is taken from them; this reads only what the rig needs, but reads it correctly:
 *
 * - the head up to CRLFCRLF, however the bytes arrive (split across reads, several messages in one);
 * - the body by Content-Length, or `Transfer-Encoding: chunked` (decoded, trailers skipped), or, for
 *   a response with neither, up to the end of the connection; 1xx responses are skipped, and 204 and
 *   304 responses have no body;
 * - whether the connection stays open after the message (HTTP/1.1 unless `Connection: close`,
 *   HTTP/1.0 only with `Connection: keep-alive`).
 *
 * Only the framing headers are read as the message goes by; the head's text is handed over whole, and
 * parseHeaders() reads the rest for a caller that needs them (lower-cased names, a repeated header
 * joined with ", " as node:http does). Whatever cannot be read (a malformed head, a conflicting
 * Content-Length, a request with a transfer coding other than chunked) throws, and the caller drops
 * the connection: a misread message must never pass for a good one.
 */
const CRLF = Buffer.from('\r\n');
const CRLFCRLF = Buffer.from('\r\n\r\n');
const MAX_LINE = 64 * 1024;

const HEAD = 0;
const BODY = 1;
const CHUNK_SIZE = 2;
const CHUNK_DATA = 3;
const CHUNK_END = 4;
const TRAILERS = 5;
const UNTIL_CLOSE = 6;

const EMPTY = Buffer.alloc(0);

class HttpReader {
  /**
   * @param {object} o
   * @param {boolean} o.response  read responses (status lines) rather than requests
   * @param {boolean} [o.keepBody]  collect the body (decoded when chunked); else it is skipped. The
   *   body refers to the chunks pushed, so only with chunks that are not reused afterwards.
   * @param {(m: object) => void} o.onMessage  { code } or { method, target }, and { keepAlive, head, body }
   */
  constructor({ response, keepBody = false, onMessage }) {
    this.response = response;
    this.keepBody = keepBody;
    this.onMessage = onMessage;
    this.rest = null;
    this.stopped = false;
    this.state = HEAD;
    this.msg = null;
    this.remaining = 0;
    this.parts = [];
  }

  /** No more messages wanted (the caller closed the connection from onMessage). */
  stop() {
    this.stopped = true;
    this.rest = null;
  }

  /**
   * Feeds one chunk read from the socket; calls onMessage for every message it completes. Keeps no
   * reference to the chunk (without keepBody), so a read buffer can be reused at once.
   */
  push(chunk) {
    let buf = chunk;
    if (this.rest) {
      buf = Buffer.concat([this.rest, chunk]);
      this.rest = null;
    }
    let pos = 0;
    while (pos < buf.length && !this.stopped) {
      switch (this.state) {
        case HEAD: {
          const end = buf.indexOf(CRLFCRLF, pos);
          if (end < 0) return this.keep(buf, pos, 'header block');
          const head = buf.toString('latin1', pos, end);
          pos = end + 4;
          this.head(head);
          break;
        }
        case BODY:
        case CHUNK_DATA:
        case UNTIL_CLOSE: {
          const n = Math.min(this.remaining, buf.length - pos);
          if (this.keepBody) this.parts.push(buf.subarray(pos, pos + n));
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) {
            if (this.state === BODY) this.done();
            else if (this.state === CHUNK_DATA) this.state = CHUNK_END;
          }
          break;
        }
        case CHUNK_END: {
          if (buf.length - pos < 2) return this.keep(buf, pos, 'chunk');
          if (buf[pos] !== 13 || buf[pos + 1] !== 10) throw new Error('chunk data not followed by CRLF');
          pos += 2;
          this.state = CHUNK_SIZE;
          break;
        }
        case CHUNK_SIZE: {
          const eol = buf.indexOf(CRLF, pos);
          if (eol < 0) return this.keep(buf, pos, 'chunk size line');
          const line = buf.toString('latin1', pos, eol);
          pos = eol + 2;
          const semi = line.indexOf(';');
          const hex = (semi < 0 ? line : line.slice(0, semi)).trim();
          if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) throw new Error(`bad chunk size line ${JSON.stringify(line.slice(0, 40))}`);
          this.remaining = parseInt(hex, 16);
          this.state = this.remaining === 0 ? TRAILERS : CHUNK_DATA;
          break;
        }
        case TRAILERS: {
          // Trailer fields up to an empty line; the rig needs none of them.
          const eol = buf.indexOf(CRLF, pos);
          if (eol < 0) return this.keep(buf, pos, 'trailer');
          const empty = eol === pos;
          pos = eol + 2;
          if (empty) this.done();
          break;
        }
      }
    }
  }

  /**
   * The connection ended (the peer's FIN). Completes a response whose body runs to the close and
   * returns true then; returns false when nothing was half read; throws when a message was.
   */
  end() {
    if (this.stopped) return false;
    if (this.state === UNTIL_CLOSE) {
      this.done();
      return true;
    }
    if (this.state !== HEAD || this.rest) throw new Error('connection closed in the middle of a message');
    return false;
  }

  keep(buf, pos, what) {
    if (buf.length - pos > MAX_LINE) throw new Error(`${what} over ${MAX_LINE} bytes`);
    this.rest = Buffer.from(buf.subarray(pos));
  }

  head(text) {
    let eol = text.indexOf('\r\n');
    if (eol < 0) eol = text.length;
    const first = text.slice(0, eol);
    const msg = { code: 0, method: '', target: '', keepAlive: true, head: text, body: EMPTY };
    let minor;
    if (this.response) {
      // HTTP/1.1 200 OK
      if (!first.startsWith('HTTP/1.') || first.charCodeAt(8) !== 32) throw new Error(`bad status line ${JSON.stringify(first.slice(0, 60))}`);
      minor = first.charCodeAt(7) - 48;
      msg.code = Number(first.slice(9, 12));
      if (!(msg.code >= 100 && msg.code <= 999) || (first.length > 12 && first.charCodeAt(12) !== 32)) throw new Error(`bad status line ${JSON.stringify(first.slice(0, 60))}`);
    } else {
      // GET /path HTTP/1.1
      const sp1 = first.indexOf(' ');
      const sp2 = first.lastIndexOf(' ');
      if (sp1 <= 0 || sp2 <= sp1 + 1 || !first.startsWith('HTTP/1.', sp2 + 1) || first.length !== sp2 + 9) throw new Error(`bad request line ${JSON.stringify(first.slice(0, 60))}`);
      minor = first.charCodeAt(first.length - 1) - 48;
      msg.method = first.slice(0, sp1);
      msg.target = first.slice(sp1 + 1, sp2);
    }
    if (minor !== 0 && minor !== 1) throw new Error(`unsupported version in ${JSON.stringify(first.slice(0, 60))}`);
    let length = -1;
    let coding = '';
    let connection = '';
    let at = eol + 2;
    while (at < text.length) {
      let next = text.indexOf('\r\n', at);
      if (next < 0) next = text.length;
      const colon = text.indexOf(':', at);
      if (colon <= at || colon > next) throw new Error(`bad header line ${JSON.stringify(text.slice(at, Math.min(next, at + 60)))}`);
      // Only three names matter for framing: Content-Length, Connection, Transfer-Encoding.
      const nameLength = colon - at;
      const c = text.charCodeAt(at) | 0x20;
      if (((nameLength === 14 || nameLength === 10) && c === 0x63) || (nameLength === 17 && c === 0x74)) {
        const name = text.slice(at, colon).toLowerCase();
        const value = text.slice(colon + 1, next).trim();
        if (name === 'content-length') {
          if (!/^\d{1,15}$/.test(value) || (length >= 0 && length !== Number(value))) throw new Error(`bad Content-Length ${JSON.stringify(value)}`);
          length = Number(value);
        } else if (name === 'transfer-encoding') coding = coding ? `${coding}, ${value}` : value;
        else if (name === 'connection') connection = connection ? `${connection}, ${value}` : value;
      }
      at = next + 2;
    }
    const tokens = connection ? connection.toLowerCase().split(',').map((t) => t.trim()) : [];
    msg.keepAlive = minor === 1 ? !tokens.includes('close') : tokens.includes('keep-alive');
    this.msg = msg;
    if (this.response && msg.code < 200) {
      // 100 Continue and the like: the real response follows.
      this.msg = null;
      return;
    }
    if (coding) {
      const codings = coding.toLowerCase().split(',').map((t) => t.trim());
      if (codings[codings.length - 1] === 'chunked') {
        if (codings.length > 1) throw new Error(`unsupported Transfer-Encoding ${JSON.stringify(coding)}`);
        this.state = CHUNK_SIZE;
      } else if (this.response) this.untilClose();
      else throw new Error(`unsupported Transfer-Encoding ${JSON.stringify(coding)}`);
      return;
    }
    if (this.response && (msg.code === 204 || msg.code === 304)) return this.done();
    if (length > 0) {
      this.remaining = length;
      this.state = BODY;
    } else if (length === 0 || !this.response) this.done();
    else this.untilClose();
  }

  untilClose() {
    this.msg.keepAlive = false;
    this.remaining = Infinity;
    this.state = UNTIL_CLOSE;
  }

  done() {
    const msg = this.msg;
    if (this.keepBody) {
      msg.body = this.parts.length === 1 ? this.parts[0] : this.parts.length ? Buffer.concat(this.parts) : EMPTY;
      this.parts = [];
    }
    this.msg = null;
    this.state = HEAD;
    this.onMessage(msg);
  }
}

/** Every header of a head handed to onMessage: { lower-cased name: value }, repeats joined with ", ". */
function parseHeaders(head) {
  const headers = {};
  let at = head.indexOf('\r\n');
  if (at < 0) return headers;
  at += 2;
  while (at < head.length) {
    let next = head.indexOf('\r\n', at);
    if (next < 0) next = head.length;
    const colon = head.indexOf(':', at);
    if (colon > at && colon < next) {
      const name = head.slice(at, colon).toLowerCase();
      const value = head.slice(colon + 1, next).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    at = next + 2;
  }
  return headers;
}

module.exports = { HttpReader, parseHeaders };
