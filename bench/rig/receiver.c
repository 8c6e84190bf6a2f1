/*
 * `rig receiver`: the callback receiver. An HTTP/1.1 server on loopback (keep-alive, pipelining)
 * that answers at once (204 to POSTs, 200 to GETs) and records, per destination, when the first
 * status callback and the first final DLR arrived.
 *
 * - Our platform (and the bare gateways) POST JSON:API callbacks, `outbound_message_callbacks` and
 *   `dlr_event`, signed with Standard Webhooks headers; every `every`-th request is verified
 *   (all of them when 1) with the secret given by `secret`.
 * - Kannel GETs its dlr-url: `/kannel?to=%p&type=%d` (type 8 = SMSC accepted, 1 or 2 = final).
 *
 * Commands (stdin): `record <prefix> <width>` (clears the records; only destinations of `prefix`
 * and `width` digits count from now on, others are stale), `secret <whsec_…|-> <every>`,
 * `stats <id>`, `dump <id>`. Answers are JSON lines on stdout; the first is {"ready":true,"port":N}.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "rig.h"

typedef struct {
  peer_t p;
  buf_t scratch;
} conn_t;

static struct {
  long requests, status, dlr, duplicates, stale, other, verified, bad_signatures;
} counts;
/* at[0]: first status callback per destination, at[1]: first DLR. */
static records_t records = {.width = 8, .names = {"status", "dlr"}};
static uint8_t secret_key[256];
static long secret_len = -1;
static long verify_every = 0;
static char problems[5][200];
static int nproblems = 0;

static void problem(const char *fmt, const char *what, size_t n) {
  if (nproblems >= 5) return;
  snprintf(problems[nproblems++], sizeof problems[0], fmt, (int)(n > 80 ? 80 : n), what);
}

static void record(int dlr, const char *dest, size_t n) {
  if (n < records.prefix_len || memcmp(dest, records.prefix, records.prefix_len) != 0) {
    /* Late callbacks of an earlier run (another destination prefix) must not count in this one. */
    counts.stale++;
    return;
  }
  int r = records_first(&records, dlr, dest, n);
  if (r == 1) {
    if (dlr) counts.dlr++;
    else counts.status++;
  } else if (r == 0) counts.duplicates++;
  else {
    counts.other++;
    problem("callback for a destination the run did not send: %.*s", dest, n);
  }
}

/* The value of a JSON string member `"name":"…"` (generated JSON, no whitespace, no escapes in these values). */
static int json_member(const char *body, size_t n, const char *name, const char **v, size_t *vn) {
  char key[64];
  int k = snprintf(key, sizeof key, "\"%s\":\"", name);
  const char *p = memmem(body, n, key, (size_t)k);
  if (!p) return 0;
  p += k;
  const char *e = memchr(p, '"', (size_t)(body + n - p));
  if (!e) return 0;
  *v = p;
  *vn = (size_t)(e - p);
  return 1;
}

static int verify(const http_msg *m) {
  const char *id, *ts, *sig;
  size_t idn, tsn, sign;
  if (!http_header(m, "webhook-id", &id, &idn) || !http_header(m, "webhook-timestamp", &ts, &tsn) || !http_header(m, "webhook-signature", &sig, &sign)) return 0;
  buf_t msg = {0};
  buf_put(&msg, id, idn);
  buf_put(&msg, ".", 1);
  buf_put(&msg, ts, tsn);
  buf_put(&msg, ".", 1);
  buf_put(&msg, m->body, m->body_len);
  uint8_t mac[32];
  hmac_sha256(secret_key, (size_t)secret_len, (const uint8_t *)msg.p, msg.len, mac);
  buf_free(&msg);
  char expected[64] = "v1,";
  size_t en = 3 + base64_encode(mac, 32, expected + 3);
  /* Space-separated signatures: any one that matches. */
  for (size_t i = 0; i < sign;) {
    size_t j = i;
    while (j < sign && sig[j] != ' ') j++;
    if (j - i == en && memcmp(sig + i, expected, en) == 0) return 1;
    i = j + 1;
  }
  return 0;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c |= 0x20;
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A query parameter, form-decoded (`+` is a space, %XX a byte), into out; 0 when absent. */
static int query_param(const char *target, size_t n, const char *name, char *out, size_t cap) {
  const char *q = memchr(target, '?', n);
  if (!q) return 0;
  size_t nl = strlen(name);
  const char *end = target + n;
  for (const char *p = q + 1; p < end;) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    if (!amp) amp = end;
    if ((size_t)(amp - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
      size_t o = 0;
      for (const char *v = p + nl + 1; v < amp && o + 1 < cap; v++) {
        if (*v == '+') out[o++] = ' ';
        else if (*v == '%' && v + 2 < amp && hexval(v[1]) >= 0 && hexval(v[2]) >= 0) {
          out[o++] = (char)(hexval(v[1]) * 16 + hexval(v[2]));
          v += 2;
        } else out[o++] = *v;
      }
      out[o] = 0;
      return 1;
    }
    p = amp + 1;
  }
  return 0;
}

/* One request: the status to answer. */
static int handle(const http_msg *m) {
  counts.requests++;
  if (m->method_len == 3 && memcmp(m->method, "GET", 3) == 0) {
    char to[64], type[16];
    if (!query_param(m->target, m->target_len, "to", to, sizeof to) || !query_param(m->target, m->target_len, "type", type, sizeof type)) {
      counts.other++;
      return 200;
    }
    const char *dest = to[0] == '+' ? to + 1 : to;
    int t = atoi(type);
    if (t == 8) record(0, dest, strlen(dest));
    else if (t == 1 || t == 2) record(1, dest, strlen(dest));
    else counts.other++;
    return 200;
  }
  if (m->body_len < 2 || m->body[0] != '{' || m->body[m->body_len - 1] != '}') {
    counts.other++;
    return 400;
  }
  if (secret_len >= 0 && verify_every > 0 && counts.requests % verify_every == 0) {
    if (verify(m)) counts.verified++;
    else {
      counts.bad_signatures++;
      const char *id = "";
      size_t idn = 0;
      http_header(m, "webhook-id", &id, &idn);
      problem("bad signature on %.*s", id, idn);
    }
  }
  const char *type, *dest;
  size_t tn, dn;
  if (!json_member(m->body, m->body_len, "type", &type, &tn) || !json_member(m->body, m->body_len, "destination", &dest, &dn)) {
    counts.other++;
    return 204;
  }
  if (tn == 26 && memcmp(type, "outbound_message_callbacks", 26) == 0) record(0, dest, dn);
  else if (tn == 9 && memcmp(type, "dlr_event", 9) == 0) record(1, dest, dn);
  else counts.other++;
  return 204;
}

static void conn_close(conn_t *c) {
  loop_del(c->p.fd);
  close(c->p.fd);
  buf_free(&c->p.in);
  buf_free(&c->p.out);
  buf_free(&c->scratch);
  free(c);
}

static void on_conn(void *ctx, uint32_t events);

static void close_conn(void *ctx) { conn_close(ctx); }

/* Writes what is queued; 0 when the connection is closed (and freed) now. */
static int flush(conn_t *c) { return peer_flush(&c->p, 1, close_conn, c, on_conn); }

static void on_conn(void *ctx, uint32_t events) {
  conn_t *c = ctx;
  if (events & EPOLLOUT) {
    if (!flush(c) || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
  }
  int r = read_available(c->p.fd, &c->p.in);
  if (r < 0) return conn_close(c);
  int eof = r == 0;
  while (!c->p.closing && buf_size(&c->p.in) > 0) {
    http_msg m;
    long used = http_parse(buf_data(&c->p.in), buf_size(&c->p.in), 0, &m, &c->scratch);
    if (used == 0) break;
    if (used < 0) {
      /* Unreadable, so the rest of the stream cannot be framed either: say so and hang up. */
      problem("unreadable request: %.*s", m.error, strlen(m.error));
      buf_puts(&c->p.out, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      c->p.closing = 1;
      break;
    }
    int code = handle(&m);
    buf_consume(&c->p.in, (size_t)used);
    buf_puts(&c->p.out, code == 204 ? "HTTP/1.1 204 No Content\r\n" : code == 200 ? "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n" : "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n");
    if (m.keep_alive) buf_puts(&c->p.out, "Connection: keep-alive\r\n\r\n");
    else {
      buf_puts(&c->p.out, "Connection: close\r\n\r\n");
      c->p.closing = 1;
    }
  }
  /* A client that hangs up halfway through a request had no answer, and knows it: no problem. */
  if (eof) c->p.closing = 1;
  (void)flush(c);
}

static void on_accept(void *ctx, uint32_t events) {
  (void)events;
  for (;;) {
    int fd = accept4((int)(intptr_t)ctx, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    conn_t *c = calloc(1, sizeof *c);
    c->p.fd = fd;
    loop_add(fd, EPOLLIN, on_conn, c);
  }
}

static void on_line(char *line) {
  buf_t out = {0};
  char cmd[16] = "", a[256] = "", b[64] = "";
  sscanf(line, "%15s %255s %63s", cmd, a, b);
  if (strcmp(cmd, "record") == 0) {
    records_reset(&records, a, b);
    memset(&counts, 0, sizeof counts);
    nproblems = 0;
    buf_puts(&out, "{\"ok\":true}");
  } else if (strcmp(cmd, "secret") == 0) {
    verify_every = atol(b);
    secret_len = -1;
    if (strncmp(a, "whsec_", 6) == 0) secret_len = base64_decode(a + 6, strlen(a + 6), secret_key);
    buf_puts(&out, "{\"ok\":true}");
  } else if (strcmp(cmd, "stats") == 0) {
    buf_printf(&out,
               "{\"id\":%s,\"counts\":{\"requests\":%ld,\"status\":%ld,\"dlr\":%ld,\"duplicates\":%ld,\"stale\":%ld,\"other\":%ld,\"verified\":%ld,\"badSignatures\":%ld},\"problems\":[",
               a, counts.requests, counts.status, counts.dlr, counts.duplicates, counts.stale, counts.other, counts.verified, counts.bad_signatures);
    for (int i = 0; i < nproblems; i++) {
      if (i) buf_puts(&out, ",");
      json_str(&out, problems[i], strlen(problems[i]));
    }
    buf_puts(&out, "]}");
  } else if (strcmp(cmd, "dump") == 0) {
    records_dump(&records, &out, a);
  } else {
    unknown_command(&out, line);
  }
  emit(&out);
  buf_free(&out);
}

int receiver_main(const char *opts) { return serve("receiver", opts, on_accept, on_line, NULL, NULL); }
