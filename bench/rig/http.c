/*
 * The HTTP/1.x framing the rig needs, for the receiver (requests) and the load generator
 * (responses): a head up to CRLFCRLF however the bytes arrive, a body by Content-Length or
 * `Transfer-Encoding: chunked` (decoded, trailers skipped), 1xx responses skipped, no body on
 * 204/304, and whether the connection stays open. What cannot be framed is an error, and the caller
 * drops the connection: a misread message must never pass for a good one.
 */
#define _GNU_SOURCE
#include "http.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int token_in(const char *v, size_t n, const char *token) {
  size_t t = strlen(token);
  size_t i = 0;
  while (i < n) {
    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
    size_t s = i;
    while (i < n && v[i] != ',') i++;
    size_t e = i;
    while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
    if (e - s == t && strncasecmp(v + s, token, t) == 0) return 1;
  }
  return 0;
}

int http_header(const http_msg *m, const char *name, const char **val, size_t *len) {
  size_t nl = strlen(name);
  const char *p = memchr(m->head, '\n', m->head_len);
  const char *end = m->head + m->head_len;
  while (p && p + 1 < end) {
    const char *line = p + 1;
    const char *eol = memchr(line, '\r', (size_t)(end - line));
    if (!eol) eol = end;
    const char *colon = memchr(line, ':', (size_t)(eol - line));
    if (colon && (size_t)(colon - line) == nl && strncasecmp(line, name, nl) == 0) {
      const char *v = colon + 1;
      while (v < eol && (*v == ' ' || *v == '\t')) v++;
      const char *ve = eol;
      while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      *val = v;
      *len = (size_t)(ve - v);
      return 1;
    }
    p = eol < end ? eol + 1 : NULL;
  }
  return 0;
}

/* Decodes a chunked body starting at p; >0: bytes it took, 0: incomplete, -1: malformed. */
static long dechunk(const char *p, size_t n, buf_t *out, const char **error) {
  size_t pos = 0;
  out->len = out->off = 0;
  for (;;) {
    const char *eol = memmem(p + pos, n - pos, "\r\n", 2);
    if (!eol) return n - pos > 1024 ? (*error = "chunk size line too long", -1) : 0;
    size_t size = 0;
    const char *q = p + pos;
    int digits = 0;
    while (q < eol && *q != ';') {
      int v;
      if (*q >= '0' && *q <= '9') v = *q - '0';
      else if ((*q | 0x20) >= 'a' && (*q | 0x20) <= 'f') v = (*q | 0x20) - 'a' + 10;
      else if (*q == ' ' || *q == '\t') {
        q++;
        continue;
      } else return *error = "bad chunk size line", -1;
      if (++digits > 12) return *error = "bad chunk size line", -1;
      size = size * 16 + (size_t)v;
      q++;
    }
    if (digits == 0) return *error = "bad chunk size line", -1;
    pos = (size_t)(eol - p) + 2;
    if (size == 0) {
      /* Trailer fields up to an empty line. */
      for (;;) {
        const char *t = memmem(p + pos, n - pos, "\r\n", 2);
        if (!t) return 0;
        int empty = t == p + pos;
        pos = (size_t)(t - p) + 2;
        if (empty) return (long)pos;
      }
    }
    if (n - pos < size + 2) return 0;
    buf_put(out, p + pos, size);
    pos += size;
    if (p[pos] != '\r' || p[pos + 1] != '\n') return *error = "chunk data not followed by CRLF", -1;
    pos += 2;
  }
}

long http_parse(const char *p, size_t n, int response, http_msg *m, buf_t *scratch) {
  memset(m, 0, sizeof *m);
  const char *end = memmem(p, n, "\r\n\r\n", 4);
  if (!end) return n > 65536 ? (m->error = "header block over 64 KiB", -1) : 0;
  m->head = p;
  m->head_len = (size_t)(end - p);
  size_t body_at = m->head_len + 4;
  const char *eol = memmem(p, m->head_len + 2, "\r\n", 2);
  size_t first_len = (size_t)(eol - p);
  int minor;
  if (response) {
    /* HTTP/1.1 200 OK */
    if (first_len < 12 || strncmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ' || (first_len > 12 && p[12] != ' ')) return m->error = "bad status line", -1;
    minor = p[7] - '0';
    if (p[9] < '1' || p[9] > '9' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9') return m->error = "bad status line", -1;
    m->code = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
  } else {
    /* POST /path HTTP/1.1 */
    const char *sp1 = memchr(p, ' ', first_len);
    const char *sp2 = memrchr(p, ' ', first_len);
    if (!sp1 || sp1 == p || sp2 <= sp1 + 1 || (size_t)(p + first_len - sp2) != 9 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) return m->error = "bad request line", -1;
    minor = p[first_len - 1] - '0';
    m->method = p;
    m->method_len = (size_t)(sp1 - p);
    m->target = sp1 + 1;
    m->target_len = (size_t)(sp2 - sp1 - 1);
  }
  if (minor != 0 && minor != 1) return m->error = "unsupported HTTP version", -1;

  long length = -1;
  int chunked = 0, other_coding = 0;
  const char *conn = NULL;
  size_t conn_len = 0;
  const char *line = eol + 2;
  const char *head_end = p + m->head_len;
  while (line < head_end) {
    const char *le = memmem(line, (size_t)(head_end - line), "\r\n", 2);
    if (!le) le = head_end;
    const char *colon = memchr(line, ':', (size_t)(le - line));
    if (!colon || colon == line) return m->error = "bad header line", -1;
    size_t nl = (size_t)(colon - line);
    const char *v = colon + 1;
    while (v < le && (*v == ' ' || *v == '\t')) v++;
    const char *ve = le;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
    if (nl == 14 && strncasecmp(line, "content-length", 14) == 0) {
      long value = 0;
      if (ve == v || ve - v > 15) return m->error = "bad Content-Length", -1;
      for (const char *q = v; q < ve; q++) {
        if (*q < '0' || *q > '9') return m->error = "bad Content-Length", -1;
        value = value * 10 + (*q - '0');
      }
      if (length >= 0 && length != value) return m->error = "conflicting Content-Length", -1;
      length = value;
    } else if (nl == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
      /* Only a lone `chunked` can be framed. */
      if ((size_t)(ve - v) == 7 && strncasecmp(v, "chunked", 7) == 0 && !chunked) chunked = 1;
      else other_coding = 1;
    } else if (nl == 10 && strncasecmp(line, "connection", 10) == 0) {
      conn = v;
      conn_len = (size_t)(ve - v);
    }
    line = le + 2;
  }
  m->keep_alive = minor == 1 ? !(conn && token_in(conn, conn_len, "close")) : (conn && token_in(conn, conn_len, "keep-alive"));
  if (response && m->code < 200) {
    m->informational = 1;
    return (long)body_at;
  }
  if (other_coding) {
    if (!response) return m->error = "unsupported Transfer-Encoding", -1;
    m->until_close = 1;
    m->keep_alive = 0;
    return 0;
  }
  if (chunked) {
    long used = dechunk(p + body_at, n - body_at, scratch, &m->error);
    if (used <= 0) return used;
    m->body = buf_data(scratch);
    m->body_len = buf_size(scratch);
    return (long)body_at + used;
  }
  if (response && (m->code == 204 || m->code == 304)) return (long)body_at;
  if (length < 0) {
    if (!response) return (long)body_at;
    m->until_close = 1;
    m->keep_alive = 0;
    return 0;
  }
  if (n - body_at < (size_t)length) return 0;
  m->body = p + body_at;
  m->body_len = (size_t)length;
  return (long)body_at + length;
}
