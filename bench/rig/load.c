/*
 * `rig load`: the open-loop load generator of the end-to-end runs. It issues requests at a steady
 * `rate` for `durationS` whatever the latency (a slow server meets a queue, as it would in
 * production), round-robin over the targets, each request for a new destination so every message
 * can be followed to its callbacks. Per target, up to `connections` / targets kept-alive
 * connections with one request in flight on each; a request due while all are busy waits in a
 * FIFO queue for the first one free, and counts as shed when `maxOutstanding` are already out.
 * Latency runs from when a request was issued, so time queued for a connection counts.
 *
 * Each target's request is a template file: the exact bytes to send, in which every occurrence of
 * `marker` (the destination prefix followed by `width` 'Z's) is replaced by the request's
 * destination (the prefix and its index, zero-padded): the same length, so Content-Length holds.
 *
 * Output (stdout, JSON lines): {"ready":true,"t0":ms}, then {"tick":s,"issued":n,"ok":n} every
 * second, then {"done":true,…counts,"seconds":s,"cpuSeconds":s,"failures":[…],"sent":[[index,issuedAt,latencyMs],…]}
 * (the 2xx ones; cpuSeconds is the generator's own CPU time, user + system).
 * A request still out `drainS` seconds after the last was issued fails as timed out.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "rig.h"

typedef struct {
  char host[64];
  int port;
  char *tmpl;
  size_t tmpl_len;
  size_t *marks; /* offsets of the marker in tmpl */
  int nmarks;
  struct conn **idle;
  int nidle;
  int nconns, max_conns;
  long *queue; /* request indices waiting for a connection */
  long qhead, qtail, qcap;
} target_t;

typedef struct conn {
  int fd;
  target_t *t;
  buf_t in, out, scratch;
  long current; /* request in flight, or -1 */
  int want_out;
  int dead;
} conn_t;

static target_t targets[8];
static int ntargets;
static double rate, duration_s, drain_s;
static long total, issued, ok, failed, shed, outstanding, max_outstanding;
static double t0, last_tick;
static int ticks;
static double *started, *latency; /* per request; latency < 0: not answered with a 2xx */
static char prefix[64];
static size_t prefix_len, marker_len;
static int width = 8;
static char failures[5][200];
static int nfailures;

static void failure(const char *what) {
  if (nfailures < 5) snprintf(failures[nfailures++], sizeof failures[0], "%s", what);
}

static void on_conn(void *ctx, uint32_t events);
static void next(conn_t *c);

static void settle(long i, int code, const char *error) {
  outstanding--;
  if (code >= 200 && code < 300) {
    ok++;
    latency[i] = now_ms() - started[i];
  } else {
    failed++;
    char msg[200];
    if (error) failure(error);
    else {
      snprintf(msg, sizeof msg, "HTTP %d", code);
      failure(msg);
    }
  }
}

static void open_conn(target_t *t);

/* Closes c; the request in flight on it fails with `error`; a queued one gets a new connection. */
static void drop(conn_t *c, const char *error) {
  if (c->dead) return;
  c->dead = 1;
  target_t *t = c->t;
  loop_del(c->fd);
  close(c->fd);
  t->nconns--;
  for (int i = 0; i < t->nidle; i++)
    if (t->idle[i] == c) {
      t->idle[i] = t->idle[--t->nidle];
      break;
    }
  if (c->current >= 0) settle(c->current, 0, error ? error : "connection closed before the response");
  c->current = -1;
  buf_free(&c->in);
  buf_free(&c->out);
  buf_free(&c->scratch);
  free(c);
  if (t->qhead < t->qtail && t->nconns < t->max_conns) open_conn(t);
}

static int flush(conn_t *c) {
  if (write_pending(c->fd, &c->out) < 0) {
    drop(c, strerror(errno));
    return 0;
  }
  watch_writable(c->fd, buf_size(&c->out) > 0, &c->want_out, EPOLLRDHUP, c, on_conn);
  return 1;
}

static void write_request(conn_t *c, long i) {
  target_t *t = c->t;
  c->current = i;
  buf_reserve(&c->out, t->tmpl_len);
  char *p = c->out.p + c->out.len;
  memcpy(p, t->tmpl, t->tmpl_len);
  char digits[16];
  snprintf(digits, sizeof digits, "%0*ld", width, i);
  for (int k = 0; k < t->nmarks; k++) memcpy(p + t->marks[k] + prefix_len, digits, (size_t)width);
  c->out.len += t->tmpl_len;
  flush(c);
}

/* The next queued request on c, or c waits idle. */
static void next(conn_t *c) {
  target_t *t = c->t;
  if (t->qhead == t->qtail) {
    t->idle[t->nidle++] = c;
    return;
  }
  write_request(c, t->queue[t->qhead++ % t->qcap]);
}

static void open_conn(target_t *t) {
  int fd = connect_loopback(t->host, t->port);
  if (fd < 0) {
    /* Fail what waits: nothing can carry it. */
    while (t->qhead < t->qtail) settle(t->queue[t->qhead++ % t->qcap], 0, strerror(errno));
    return;
  }
  conn_t *c = calloc(1, sizeof *c);
  c->fd = fd;
  c->t = t;
  c->current = -1;
  t->nconns++;
  loop_add(fd, EPOLLIN | EPOLLRDHUP, on_conn, c);
  /* Written at once: the kernel holds it until the connection is up, or EPOLLOUT says when. */
  next(c);
}

/* A response for the request in flight; 0 when c is closed (and freed) now. */
static int answered(conn_t *c, const http_msg *m) {
  long i = c->current;
  c->current = -1;
  if (i < 0) {
    drop(c, "a response with no request in flight");
    return 0;
  }
  settle(i, m->code, NULL);
  if (!m->keep_alive) {
    drop(c, NULL);
    return 0;
  }
  next(c);
  return 1;
}

static void on_conn(void *ctx, uint32_t events) {
  conn_t *c = ctx;
  if (events & EPOLLOUT) {
    if (!flush(c)) return;
  }
  if (events & EPOLLERR) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    return drop(c, strerror(err ? err : ECONNRESET));
  }
  int eof = 0;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
    int r = read_available(c->fd, &c->in);
    if (r < 0) return drop(c, strerror(errno));
    eof = r == 0;
  }
  while (buf_size(&c->in) > 0) {
    http_msg m;
    long used = http_parse(buf_data(&c->in), buf_size(&c->in), 1, &m, &c->scratch);
    if (used < 0) {
      char msg[200];
      snprintf(msg, sizeof msg, "bad response: %s", m.error);
      return drop(c, msg);
    }
    if (used == 0) {
      if (m.until_close && eof) {
        /* The body ran to the close: the response is complete now. */
        buf_consume(&c->in, buf_size(&c->in));
        if (answered(c, &m)) drop(c, NULL);
        return;
      }
      break;
    }
    buf_consume(&c->in, (size_t)used);
    if (m.informational) continue;
    if (!answered(c, &m)) return;
  }
  if (eof) drop(c, buf_size(&c->in) ? "connection closed in the middle of a response" : "connection closed by the server before the response");
}

static void issue(void) {
  long i = issued++;
  outstanding++;
  started[i] = now_ms();
  target_t *t = &targets[i % ntargets];
  if (t->nidle > 0) {
    write_request(t->idle[--t->nidle], i);
    return;
  }
  if (t->qtail - t->qhead >= t->qcap) {
    long cap = t->qcap * 2;
    long *q = malloc((size_t)cap * sizeof *q);
    for (long k = t->qhead; k < t->qtail; k++) q[k - t->qhead] = t->queue[k % t->qcap];
    free(t->queue);
    t->queue = q;
    t->qtail -= t->qhead;
    t->qhead = 0;
    t->qcap = cap;
  }
  t->queue[t->qtail++ % t->qcap] = i;
  if (t->nconns < t->max_conns) open_conn(t);
}

static void finish(void) {
  double seconds = (now_ms() - t0) / 1000.0;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  buf_t out = {0};
  buf_printf(&out, "{\"done\":true,\"issued\":%ld,\"ok\":%ld,\"failed\":%ld,\"shed\":%ld,\"seconds\":%.6f,\"cpuSeconds\":%.6f,\"failures\":[", issued, ok, failed, shed, seconds, cpu);
  for (int k = 0; k < nfailures; k++) {
    if (k) buf_puts(&out, ",");
    json_str(&out, failures[k], strlen(failures[k]));
  }
  buf_puts(&out, "],\"sent\":[");
  int first = 1;
  for (long i = 0; i < issued; i++) {
    if (latency[i] < 0) continue;
    buf_printf(&out, "%s[%ld,%.3f,%.3f]", first ? "" : ",", i, started[i], latency[i]);
    first = 0;
  }
  buf_puts(&out, "]}");
  emit(&out);
  exit(0);
}

static void pace(void) {
  double t = now_ms();
  double elapsed = (t - t0) / 1000.0;
  long due = (long)(elapsed * rate);
  if (due > total) due = total;
  due -= issued + shed;
  for (long k = 0; k < due; k++) {
    if (outstanding >= max_outstanding) shed++;
    else issue();
  }
  if (t - last_tick >= 1000.0) {
    last_tick += 1000.0;
    buf_t out = {0};
    buf_printf(&out, "{\"tick\":%d,\"issued\":%ld,\"ok\":%ld}", ++ticks, issued, ok);
    emit(&out);
    buf_free(&out);
  }
  if (issued + shed >= total) {
    if (outstanding == 0) finish();
    if (elapsed > duration_s + drain_s) {
      /* Whatever is still out has waited longer than any run should: it failed. */
      for (int k = 0; k < ntargets; k++) {
        target_t *tg = &targets[k];
        while (tg->qhead < tg->qtail) settle(tg->queue[tg->qhead++ % tg->qcap], 0, "timed out");
      }
      failure("timed out waiting for responses");
      failed += outstanding;
      outstanding = 0;
      finish();
    }
  }
}

static int timeout(void) { return 1; }

static void on_line(char *line) { (void)line; }

static char *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  buf_t b = {0};
  char tmp[65536];
  size_t r;
  while ((r = fread(tmp, 1, sizeof tmp, f)) > 0) buf_put(&b, tmp, r);
  fclose(f);
  *n = b.len;
  return b.p;
}

int load_main(const char *opts) {
  char list[1024] = "", files[4096] = "";
  opt_str(opts, "targets", list, sizeof list);
  opt_str(opts, "templates", files, sizeof files);
  opt_str(opts, "prefix", prefix, sizeof prefix);
  width = (int)opt_num(opts, "width", 8);
  prefix_len = strlen(prefix);
  marker_len = prefix_len + (size_t)width;
  char marker[96];
  snprintf(marker, sizeof marker, "%s%.*s", prefix, width, "ZZZZZZZZZZZZ");
  rate = opt_num(opts, "rate", 100);
  duration_s = opt_num(opts, "durationS", 1);
  drain_s = opt_num(opts, "drainS", 120);
  int connections = (int)opt_num(opts, "connections", 16);
  max_outstanding = (long)opt_num(opts, "maxOutstanding", 20000);
  total = (long)(rate * duration_s + 0.5);

  char *save1, *save2;
  char *file = strtok_r(files, ",", &save2);
  for (char *tok = strtok_r(list, ",", &save1); tok && ntargets < 8; tok = strtok_r(NULL, ",", &save1)) {
    target_t *t = &targets[ntargets];
    char *colon = strrchr(tok, ':');
    if (!colon || !file) {
      fprintf(stderr, "rig load: targets are host:port, one template file each\n");
      return 64;
    }
    *colon = 0;
    snprintf(t->host, sizeof t->host, "%s", tok);
    t->port = atoi(colon + 1);
    t->tmpl = read_file(file, &t->tmpl_len);
    if (!t->tmpl) {
      perror(file);
      return 66;
    }
    t->marks = malloc(sizeof(size_t) * 16);
    for (char *p = t->tmpl; t->nmarks < 16 && (p = memmem(p, t->tmpl_len - (size_t)(p - t->tmpl), marker, marker_len)) != NULL; p += marker_len)
      t->marks[t->nmarks++] = (size_t)(p - t->tmpl);
    if (t->nmarks == 0) {
      fprintf(stderr, "rig load: %s does not contain the marker %s\n", file, marker);
      return 65;
    }
    ntargets++;
    file = strtok_r(NULL, ",", &save2);
  }
  if (ntargets == 0 || total <= 0) {
    fprintf(stderr, "rig load: no targets or nothing to send\n");
    return 64;
  }
  int per = connections / ntargets;
  if (per < 1) per = 1;
  for (int k = 0; k < ntargets; k++) {
    targets[k].max_conns = per;
    targets[k].idle = calloc((size_t)per, sizeof(conn_t *));
    targets[k].qcap = 4096;
    targets[k].queue = malloc(sizeof(long) * 4096);
  }
  started = calloc((size_t)total, sizeof *started);
  latency = malloc((size_t)total * sizeof *latency);
  /* Negative until answered with a 2xx. */
  for (long i = 0; i < total; i++) latency[i] = -1;
  loop_init();
  control_init(on_line);
  t0 = last_tick = now_ms();
  buf_t out = {0};
  buf_printf(&out, "{\"ready\":true,\"t0\":%.3f,\"total\":%ld}", t0, total);
  emit(&out);
  buf_free(&out);
  loop_run(pace, timeout);
  return 0;
}
