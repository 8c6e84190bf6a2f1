/*
 * `rig smsc`: the SMPP 3.4 SMSC. Answers binds (system_id and password from the options),
 * enquire_link and unbind; answers every submit_sm with a message id and, when it asks for a
 * receipt (registered_delivery bit 0), sends a deliver_sm receipt at once (or after
 * `receiptDelayMs`): text `id:… sub:001 dlvrd:001 submit date:… done date:… stat:DELIVRD err:000
 * text:` plus the TLVs receipted_message_id and message_state, so any ESME can match it. A receipt
 * answered with an error status is sent again 100 ms later (up to 10 times); one outstanding when
 * its session closes goes to the next bound session. Unknown commands get a generic_nack.
 * What one turn of the loop writes to a session leaves in one write.
 *
 * Commands (stdin): `record <prefix> <width>` (clears the records; from now on the first submit_sm
 * and the first receipt per destination of `prefix` + `width` digits are timed), `stats <id>`,
 * `dump <id>`. The first line on stdout is {"ready":true,"port":N}.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rig.h"

#define BIND_RECEIVER 0x00000001u
#define BIND_TRANSMITTER 0x00000002u
#define SUBMIT_SM 0x00000004u
#define DELIVER_SM 0x00000005u
#define UNBIND 0x00000006u
#define BIND_TRANSCEIVER 0x00000009u
#define ENQUIRE_LINK 0x00000015u
#define GENERIC_NACK 0x80000000u
#define RESP 0x80000000u

typedef struct receipt {
  struct receipt *next;
  struct session *origin;
  char dest[24];
  size_t dest_len;
  int attempt;
  double due;
  uint32_t seq; /* while outstanding */
  size_t body_len;
  uint8_t body[]; /* the deliver_sm body */
} receipt_t;

typedef struct session {
  peer_t p;
  int bound; /* 0, or the bind command */
  int dirty; /* has output to flush this turn */
  uint32_t next_seq;
  receipt_t *outstanding, *outstanding_tail; /* deliver_sm sent, no response yet, in seq order */
  struct session *next_dirty;
  struct session *prev, *next; /* all sessions */
} session_t;

static struct {
  long binds, submits, receipts_sent, receipts_acked, receipts_nacked, sessions;
} counts;
static char system_id[32] = "bench", password[32] = "bench";
static double receipt_delay_ms = 0;
static session_t *sessions;
static session_t *dirty;
static uint64_t next_message_id = 1;
static int recording = 0;
/* at[0]: first submit_sm per destination, at[1]: first receipt sent. */
static records_t records = {.width = 8, .names = {"submits", "receipts"}};

/* Receipts to send: now (after this turn's reads), later (delay or retry), or once a session binds. */
typedef struct {
  receipt_t *head, *tail;
} queue_t;
static queue_t immediate, delayed, retries, waiting;

static void push(queue_t *q, receipt_t *r) {
  r->next = NULL;
  if (q->tail) q->tail->next = r;
  else q->head = r;
  q->tail = r;
}

static receipt_t *pop(queue_t *q) {
  receipt_t *r = q->head;
  if (r) {
    q->head = r->next;
    if (!q->head) q->tail = NULL;
  }
  return r;
}

static void on_session(void *ctx, uint32_t events);

static void mark_dirty(session_t *s) {
  if (s->dirty) return;
  s->dirty = 1;
  s->next_dirty = dirty;
  dirty = s;
}

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static void send_pdu(session_t *s, uint32_t id, uint32_t status, uint32_t seq, const void *body, size_t n) {
  uint8_t h[16];
  put32(h, (uint32_t)(16 + n));
  put32(h + 4, id);
  put32(h + 8, status);
  put32(h + 12, seq);
  buf_put(&s->p.out, h, 16);
  if (n) buf_put(&s->p.out, body, n);
  mark_dirty(s);
}

/* A C-octet string at p[*at..n): copies at most cap-1 bytes; -1 when unterminated. */
static int cstr(const uint8_t *p, size_t n, size_t *at, char *out, size_t cap) {
  const uint8_t *z = memchr(p + *at, 0, n - *at);
  if (!z) return -1;
  size_t len = (size_t)(z - (p + *at));
  if (out) {
    size_t c = len < cap - 1 ? len : cap - 1;
    memcpy(out, p + *at, c);
    out[c] = 0;
  }
  *at += len + 1;
  return (int)len;
}

static int u8(const uint8_t *p, size_t n, size_t *at, uint8_t *out) {
  if (*at >= n) return -1;
  *out = p[(*at)++];
  return 0;
}

static session_t *receiver_for(session_t *origin) {
  if (origin && (origin->bound == BIND_TRANSCEIVER || origin->bound == BIND_RECEIVER) && !origin->p.closing) return origin;
  for (session_t *s = sessions; s; s = s->next)
    if ((s->bound == BIND_TRANSCEIVER || s->bound == BIND_RECEIVER) && !s->p.closing) return s;
  return NULL;
}

static void deliver(receipt_t *r) {
  session_t *s = receiver_for(r->origin);
  if (!s) return push(&waiting, r);
  if (recording && r->attempt == 1) records_first(&records, 1, r->dest, r->dest_len);
  counts.receipts_sent++;
  r->origin = s;
  r->seq = s->next_seq++;
  if (s->next_seq == 0x7fffffff) s->next_seq = 1;
  r->next = NULL;
  if (s->outstanding_tail) s->outstanding_tail->next = r;
  else s->outstanding = r;
  s->outstanding_tail = r;
  send_pdu(s, DELIVER_SM, 0, r->seq, r->body, r->body_len);
}

static void deliver_resp(session_t *s, uint32_t seq, uint32_t status) {
  receipt_t *prev = NULL, *r = s->outstanding;
  while (r && r->seq != seq) {
    prev = r;
    r = r->next;
  }
  if (!r) return;
  if (prev) prev->next = r->next;
  else s->outstanding = r->next;
  if (s->outstanding_tail == r) s->outstanding_tail = prev;
  if (status == 0) {
    counts.receipts_acked++;
    free(r);
    return;
  }
  counts.receipts_nacked++;
  if (r->attempt >= 10) return free(r);
  r->attempt++;
  r->due = now_ms() + 100;
  push(&retries, r);
}

static void smsc_date(char out[11]) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 11, "%y%m%d%H%M", &tm);
}

static void submit_sm(session_t *s, uint32_t seq, const uint8_t *p, size_t n) {
  if (!s->bound) return send_pdu(s, SUBMIT_SM | RESP, 0x04, seq, NULL, 0);
  char src[24], dst[24];
  uint8_t src_ton, src_npi, dst_ton, dst_npi, b, registered, sm_length;
  size_t at = 0;
  if (cstr(p, n, &at, NULL, 0) < 0 || u8(p, n, &at, &src_ton) || u8(p, n, &at, &src_npi) || cstr(p, n, &at, src, sizeof src) < 0 || u8(p, n, &at, &dst_ton) ||
      u8(p, n, &at, &dst_npi) || cstr(p, n, &at, dst, sizeof dst) < 0 || u8(p, n, &at, &b) || u8(p, n, &at, &b) || u8(p, n, &at, &b) || cstr(p, n, &at, NULL, 0) < 0 ||
      cstr(p, n, &at, NULL, 0) < 0 || u8(p, n, &at, &registered) || u8(p, n, &at, &b) || u8(p, n, &at, &b) || u8(p, n, &at, &b) || u8(p, n, &at, &sm_length) ||
      at + sm_length > n) {
    /* ESME_RINVCMDLEN: the body does not parse as a submit_sm. */
    return send_pdu(s, SUBMIT_SM | RESP, 0x02, seq, NULL, 0);
  }
  counts.submits++;
  size_t dn = strlen(dst);
  if (recording) records_first(&records, 0, dst, dn);
  char id[24];
  int idn = snprintf(id, sizeof id, "%010llX", (unsigned long long)next_message_id++);
  send_pdu(s, SUBMIT_SM | RESP, 0, seq, id, (size_t)idn + 1);
  if (!(registered & 0x01)) return;

  char d[11], text[160];
  smsc_date(d);
  int tn = snprintf(text, sizeof text, "id:%s sub:001 dlvrd:001 submit date:%s done date:%s stat:DELIVRD err:000 text:", id, d, d);
  size_t sn = strlen(src);
  size_t body_len = 1 + 2 + dn + 1 + 2 + sn + 1 + 3 + 1 + 1 + 4 + 1 + (size_t)tn + (4 + (size_t)idn + 1) + (4 + 1);
  receipt_t *r = malloc(sizeof *r + body_len);
  memset(r, 0, sizeof *r);
  memcpy(r->dest, dst, dn + 1);
  r->dest_len = dn;
  r->origin = s;
  r->attempt = 1;
  r->body_len = body_len;
  uint8_t *q = r->body;
  *q++ = 0; /* service_type */
  *q++ = dst_ton;
  *q++ = dst_npi;
  memcpy(q, dst, dn + 1);
  q += dn + 1;
  *q++ = src_ton;
  *q++ = src_npi;
  memcpy(q, src, sn + 1);
  q += sn + 1;
  *q++ = 0x04; /* esm_class: SMSC delivery receipt */
  *q++ = 0;    /* protocol_id */
  *q++ = 0;    /* priority_flag */
  *q++ = 0;    /* schedule_delivery_time */
  *q++ = 0;    /* validity_period */
  *q++ = 0;    /* registered_delivery */
  *q++ = 0;    /* replace_if_present_flag */
  *q++ = 0;    /* data_coding */
  *q++ = 0;    /* sm_default_msg_id */
  *q++ = (uint8_t)tn;
  memcpy(q, text, (size_t)tn);
  q += tn;
  /* receipted_message_id */
  *q++ = 0x00;
  *q++ = 0x1e;
  *q++ = 0;
  *q++ = (uint8_t)(idn + 1);
  memcpy(q, id, (size_t)idn + 1);
  q += idn + 1;
  /* message_state: DELIVERED */
  *q++ = 0x04;
  *q++ = 0x27;
  *q++ = 0;
  *q++ = 1;
  *q++ = 2;
  if (receipt_delay_ms > 0) {
    r->due = now_ms() + receipt_delay_ms;
    push(&delayed, r);
  } else push(&immediate, r);
}

static void on_bind(session_t *s, uint32_t id, uint32_t seq, const uint8_t *p, size_t n) {
  char sys[32], pw[32];
  size_t at = 0;
  int ok = cstr(p, n, &at, sys, sizeof sys) >= 0 && cstr(p, n, &at, pw, sizeof pw) >= 0 && strcmp(sys, system_id) == 0 && strcmp(pw, password) == 0;
  if (s->bound) ok = 0;
  send_pdu(s, id | RESP, ok ? 0 : (s->bound ? 0x05 : 0x0e), seq, "BENCHSMSC", 10);
  if (!ok) return;
  counts.binds++;
  s->bound = (int)id;
  if (id != BIND_TRANSMITTER) {
    receipt_t *r;
    queue_t w = waiting;
    waiting.head = waiting.tail = NULL;
    while ((r = pop(&w))) {
      r->origin = s;
      deliver(r);
    }
  }
}

static void pdu(session_t *s, const uint8_t *p, size_t n) {
  uint32_t id = get32(p + 4), status = get32(p + 8), seq = get32(p + 12);
  const uint8_t *body = p + 16;
  size_t bn = n - 16;
  switch (id) {
    case BIND_RECEIVER:
    case BIND_TRANSMITTER:
    case BIND_TRANSCEIVER:
      return on_bind(s, id, seq, body, bn);
    case SUBMIT_SM:
      return submit_sm(s, seq, body, bn);
    case ENQUIRE_LINK:
      return send_pdu(s, ENQUIRE_LINK | RESP, 0, seq, NULL, 0);
    case UNBIND:
      send_pdu(s, UNBIND | RESP, 0, seq, NULL, 0);
      s->bound = 0;
      s->p.closing = 1;
      return;
    case DELIVER_SM | RESP:
      return deliver_resp(s, seq, status);
    case GENERIC_NACK:
      return deliver_resp(s, seq, status ? status : 0x03);
    default:
      if (!(id & RESP)) send_pdu(s, GENERIC_NACK, 0x03, seq, NULL, 0);
  }
}

static void session_close(session_t *s) {
  loop_del(s->p.fd);
  close(s->p.fd);
  if (s->prev) s->prev->next = s->next;
  else sessions = s->next;
  if (s->next) s->next->prev = s->prev;
  s->bound = 0;
  /* Receipts it had not acknowledged go to another session (or wait for the next bind). */
  receipt_t *r = s->outstanding;
  while (r) {
    receipt_t *next = r->next;
    r->origin = NULL;
    deliver(r);
    r = next;
  }
  s->outstanding = s->outstanding_tail = NULL;
  for (queue_t *q = &immediate; q; q = q == &immediate ? &delayed : q == &delayed ? &retries : NULL)
    for (receipt_t *x = q->head; x; x = x->next)
      if (x->origin == s) x->origin = NULL;
  for (session_t **d = &dirty; *d; d = &(*d)->next_dirty)
    if (*d == s) {
      *d = s->next_dirty;
      break;
    }
  buf_free(&s->p.in);
  buf_free(&s->p.out);
  free(s);
}

static void close_session(void *ctx) { session_close(ctx); }

/* Writes what this turn queued; 0 when the session is closed (and freed) now. */
static int flush(session_t *s) { return peer_flush(&s->p, 0, close_session, s, on_session); }

static void on_session(void *ctx, uint32_t events) {
  session_t *s = ctx;
  if (events & EPOLLOUT) {
    if (!flush(s) || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
  }
  if (read_available(s->p.fd, &s->p.in) <= 0) return session_close(s);
  while (!s->p.closing && buf_size(&s->p.in) >= 16) {
    const uint8_t *p = (const uint8_t *)buf_data(&s->p.in);
    uint32_t len = get32(p);
    if (len < 16 || len > 65536) return session_close(s);
    if (buf_size(&s->p.in) < len) break;
    pdu(s, p, len);
    buf_consume(&s->p.in, len);
  }
}

static void on_accept(void *ctx, uint32_t events) {
  (void)events;
  for (;;) {
    int fd = accept4((int)(intptr_t)ctx, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    session_t *s = calloc(1, sizeof *s);
    s->p.fd = fd;
    s->next_seq = 1;
    s->next = sessions;
    if (sessions) sessions->prev = s;
    sessions = s;
    counts.sessions++;
    loop_add(fd, EPOLLIN, on_session, s);
  }
}

/* After each turn: receipts due now or earlier, then one write per session with output. */
static void after_events(void) {
  receipt_t *r;
  queue_t now_q = immediate;
  immediate.head = immediate.tail = NULL;
  while ((r = pop(&now_q))) deliver(r);
  double t = now_ms();
  while (delayed.head && delayed.head->due <= t) deliver(pop(&delayed));
  while (retries.head && retries.head->due <= t) deliver(pop(&retries));
  while (dirty) {
    session_t *s = dirty;
    dirty = s->next_dirty;
    s->dirty = 0;
    flush(s);
  }
}

static int timeout(void) {
  if (immediate.head) return 0;
  double due = -1;
  if (delayed.head) due = delayed.head->due;
  if (retries.head && (due < 0 || retries.head->due < due)) due = retries.head->due;
  if (due < 0) return -1;
  double ms = due - now_ms();
  return ms <= 0 ? 0 : (int)ms + 1;
}

static void on_line(char *line) {
  buf_t out = {0};
  char cmd[16] = "", a[64] = "", b[16] = "";
  sscanf(line, "%15s %63s %15s", cmd, a, b);
  if (strcmp(cmd, "record") == 0) {
    records_reset(&records, a, b);
    recording = 1;
    buf_puts(&out, "{\"ok\":true}");
  } else if (strcmp(cmd, "stats") == 0) {
    buf_printf(&out, "{\"id\":%s,\"counts\":{\"binds\":%ld,\"submits\":%ld,\"receiptsSent\":%ld,\"receiptsAcked\":%ld,\"receiptsNacked\":%ld,\"sessions\":%ld}}", a, counts.binds,
               counts.submits, counts.receipts_sent, counts.receipts_acked, counts.receipts_nacked, counts.sessions);
  } else if (strcmp(cmd, "dump") == 0) {
    records_dump(&records, &out, a);
  } else {
    unknown_command(&out, line);
  }
  emit(&out);
  buf_free(&out);
}

int smsc_main(const char *opts) {
  opt_str(opts, "systemId", system_id, sizeof system_id);
  opt_str(opts, "password", password, sizeof password);
  receipt_delay_ms = opt_num(opts, "receiptDelayMs", 0);
  return serve("smsc", opts, on_accept, on_line, after_events, timeout);
}
