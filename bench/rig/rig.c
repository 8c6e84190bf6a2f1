/* Shared parts of the rig: buffers, the epoll loop, sockets, stdin control, JSON output. */
#define _GNU_SOURCE
#include "rig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

void buf_reserve(buf_t *b, size_t extra) {
  if (b->len + extra <= b->cap) return;
  if (b->off > 0 && b->off >= b->len / 2) {
    memmove(b->p, b->p + b->off, b->len - b->off);
    b->len -= b->off;
    b->off = 0;
    if (b->len + extra <= b->cap) return;
  }
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + extra) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) {
    fprintf(stderr, "rig: out of memory\n");
    exit(2);
  }
  b->p = p;
  b->cap = cap;
}

void buf_put(buf_t *b, const void *data, size_t n) {
  buf_reserve(b, n);
  memcpy(b->p + b->len, data, n);
  b->len += n;
}

void buf_puts(buf_t *b, const char *s) { buf_put(b, s, strlen(s)); }

void buf_printf(buf_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  buf_reserve(b, (size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void buf_consume(buf_t *b, size_t n) {
  b->off += n;
  if (b->off >= b->len) b->off = b->len = 0;
}

void buf_free(buf_t *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = b->off = 0;
}

double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------------------ loop */

#define MAX_FDS 65536
static struct {
  io_fn fn;
  void *ctx;
} handlers[MAX_FDS];
static int epfd = -1;
static int running = 0;

void loop_init(void) {
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) {
    perror("rig: epoll_create1");
    exit(2);
  }
  signal(SIGPIPE, SIG_IGN);
}

void loop_add(int fd, uint32_t events, io_fn fn, void *ctx) {
  if (fd < 0 || fd >= MAX_FDS) {
    fprintf(stderr, "rig: fd %d out of range\n", fd);
    exit(2);
  }
  handlers[fd].fn = fn;
  handlers[fd].ctx = ctx;
  struct epoll_event ev = {.events = events, .data.fd = fd};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
    perror("rig: epoll_ctl add");
    exit(2);
  }
}

void loop_mod(int fd, uint32_t events, void *ctx, io_fn fn) {
  handlers[fd].fn = fn;
  handlers[fd].ctx = ctx;
  struct epoll_event ev = {.events = events, .data.fd = fd};
  epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
}

void loop_del(int fd) {
  epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
  if (fd >= 0 && fd < MAX_FDS) handlers[fd].fn = NULL;
}

void loop_stop(void) { running = 0; }

void loop_run(tick_fn after_events, int (*timeout_ms)(void)) {
  struct epoll_event evs[256];
  running = 1;
  while (running) {
    int n = epoll_wait(epfd, evs, 256, timeout_ms ? timeout_ms() : -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("rig: epoll_wait");
      exit(2);
    }
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      /* A handler may close another fd of this batch: its slot is cleared then. */
      if (handlers[fd].fn) handlers[fd].fn(handlers[fd].ctx, evs[i].events);
    }
    if (after_events) after_events();
  }
}

int set_nonblocking(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int read_available(int fd, buf_t *b) {
  for (;;) {
    buf_reserve(b, 65536);
    ssize_t n = read(fd, b->p + b->len, b->cap - b->len);
    if (n > 0) {
      b->len += (size_t)n;
      if ((size_t)n < 65536) return 1;
      continue;
    }
    if (n == 0) return 0;
    if (errno == EINTR) continue;
    return errno == EAGAIN ? 1 : -1;
  }
}

int write_pending(int fd, buf_t *b) {
  while (buf_size(b) > 0) {
    ssize_t n = write(fd, buf_data(b), buf_size(b));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN ? 0 : -1;
    }
    buf_consume(b, (size_t)n);
  }
  return 1;
}

void watch_writable(int fd, int pending, int *watching, uint32_t extra, void *ctx, io_fn fn) {
  if (pending == *watching) return;
  *watching = pending;
  loop_mod(fd, EPOLLIN | extra | (pending ? EPOLLOUT : 0), ctx, fn);
}

int peer_flush(peer_t *p, int half_close, void (*close_fn)(void *ctx), void *ctx, io_fn on_io) {
  if (write_pending(p->fd, &p->out) < 0) {
    close_fn(ctx);
    return 0;
  }
  int pending = buf_size(&p->out) > 0;
  if (!pending && p->closing) {
    if (half_close) shutdown(p->fd, SHUT_WR);
    close_fn(ctx);
    return 0;
  }
  watch_writable(p->fd, pending, &p->want_out, 0, ctx, on_io);
  return 1;
}

int serve(const char *mode, const char *opts, io_fn on_accept, void (*on_line)(char *line), tick_fn after_events, int (*timeout_ms)(void)) {
  char host[64] = "127.0.0.1";
  opt_str(opts, "host", host, sizeof host);
  int port = 0;
  loop_init();
  int fd = listen_loopback(host, (int)opt_num(opts, "port", 0), &port);
  if (fd < 0) {
    fprintf(stderr, "rig %s: cannot listen on %s: %s\n", mode, host, strerror(errno));
    return 1;
  }
  loop_add(fd, EPOLLIN, on_accept, (void *)(intptr_t)fd);
  control_init(on_line);
  buf_t out = {0};
  buf_printf(&out, "{\"ready\":true,\"port\":%d}", port);
  emit(&out);
  buf_free(&out);
  loop_run(after_events, timeout_ms);
  return 0;
}

static int resolve(const char *host, int port, struct sockaddr_in *sa) {
  memset(sa, 0, sizeof *sa);
  sa->sin_family = AF_INET;
  sa->sin_port = htons((uint16_t)port);
  return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

int listen_loopback(const char *host, int port, int *bound_port) {
  struct sockaddr_in sa;
  if (resolve(host, port, &sa) < 0) return -1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 1024) < 0) {
    close(fd);
    return -1;
  }
  socklen_t len = sizeof sa;
  getsockname(fd, (struct sockaddr *)&sa, &len);
  *bound_port = ntohs(sa.sin_port);
  return fd;
}

int connect_loopback(const char *host, int port) {
  struct sockaddr_in sa;
  if (resolve(host, port, &sa) < 0) return -1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  return fd;
}

/* ------------------------------------------------------------------ control */

static void (*control_line)(char *line);
static buf_t control_in;

static void on_control(void *ctx, uint32_t events) {
  (void)ctx;
  (void)events;
  char tmp[65536];
  ssize_t n = read(0, tmp, sizeof tmp);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) exit(0); /* the parent went away */
  if (n < 0) return;
  buf_put(&control_in, tmp, (size_t)n);
  for (;;) {
    char *start = buf_data(&control_in);
    char *nl = memchr(start, '\n', buf_size(&control_in));
    if (!nl) break;
    *nl = 0;
    control_line(start);
    buf_consume(&control_in, (size_t)(nl - start) + 1);
  }
}

void control_init(void (*on_line)(char *line)) {
  control_line = on_line;
  set_nonblocking(0);
  loop_add(0, EPOLLIN, on_control, NULL);
}

void emit(buf_t *line) {
  buf_put(line, "\n", 1);
  size_t off = 0;
  while (off < line->len) {
    ssize_t n = write(1, line->p + off, line->len - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        /* stdout is a pipe the parent reads: wait for room. */
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
        continue;
      }
      exit(0);
    }
    off += (size_t)n;
  }
  line->len = line->off = 0;
}

void json_str(buf_t *b, const char *s, size_t n) {
  buf_reserve(b, n * 2 + 2);
  buf_put(b, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      buf_put(b, e, 2);
    } else if (c < 0x20) {
      buf_printf(b, "\\u%04x", c);
    } else {
      buf_put(b, &s[i], 1);
    }
  }
  buf_put(b, "\"", 1);
}

/* ------------------------------------------------------------------ options */

static const char *opt_find(const char *json, const char *key) {
  if (!json) return NULL;
  size_t k = strlen(key);
  for (const char *p = json; (p = strchr(p, '"')) != NULL; p++) {
    if (strncmp(p + 1, key, k) == 0 && p[k + 1] == '"') {
      const char *v = p + k + 2;
      while (*v == ' ' || *v == ':') v++;
      return v;
    }
  }
  return NULL;
}

double opt_num(const char *json, const char *key, double dflt) {
  const char *v = opt_find(json, key);
  if (!v) return dflt;
  if (*v == '"') v++;
  char *end;
  double d = strtod(v, &end);
  return end == v ? dflt : d;
}

int opt_str(const char *json, const char *key, char *out, size_t cap) {
  const char *v = opt_find(json, key);
  if (!v || *v != '"') return 0;
  v++;
  size_t n = 0;
  while (*v && *v != '"' && n + 1 < cap) {
    if (*v == '\\' && v[1]) v++;
    out[n++] = *v++;
  }
  out[n] = 0;
  return 1;
}

/* ------------------------------------------------------------------ per-destination times */

long dest_index(const char *dest, size_t n, const char *prefix, size_t prefix_len, int width) {
  if (width <= 0 || width > 12 || n != prefix_len + (size_t)width || memcmp(dest, prefix, prefix_len) != 0) return -1;
  long v = 0;
  for (size_t i = prefix_len; i < n; i++) {
    if (dest[i] < '0' || dest[i] > '9') return -1;
    v = v * 10 + (dest[i] - '0');
  }
  return v;
}

#define TIMES_MAX (8L * 1024 * 1024)

int times_first(times_t *t, long i, double at) {
  if (i < 0 || i >= TIMES_MAX) return -1;
  if ((size_t)i >= t->cap) {
    size_t cap = t->cap ? t->cap : 65536;
    while (cap <= (size_t)i) cap *= 2;
    double *p = realloc(t->at, cap * sizeof *p);
    if (!p) return -1;
    memset(p + t->cap, 0, (cap - t->cap) * sizeof *p);
    t->at = p;
    t->cap = cap;
  }
  if (t->at[i] != 0) return 0;
  t->at[i] = at;
  if ((size_t)i + 1 > t->hi) t->hi = (size_t)i + 1;
  return 1;
}

void times_clear(times_t *t) {
  if (t->at) memset(t->at, 0, t->hi * sizeof *t->at);
  t->hi = 0;
}

void times_json(buf_t *b, const char *name, const times_t *t, const char *prefix, int width) {
  buf_printf(b, "\"%s\":[", name);
  int first = 1;
  for (size_t i = 0; i < t->hi; i++) {
    if (t->at[i] == 0) continue;
    buf_printf(b, "%s[\"%s%0*zu\",%.3f]", first ? "" : ",", prefix, width, i, t->at[i]);
    first = 0;
  }
  buf_put(b, "]", 1);
}

void records_reset(records_t *r, const char *prefix, const char *width) {
  snprintf(r->prefix, sizeof r->prefix, "%s", strcmp(prefix, "-") == 0 ? "" : prefix);
  r->prefix_len = strlen(r->prefix);
  r->width = width[0] ? atoi(width) : 8;
  times_clear(&r->at[0]);
  times_clear(&r->at[1]);
}

long records_index(const records_t *r, const char *dest, size_t n) { return dest_index(dest, n, r->prefix, r->prefix_len, r->width); }

int records_first(records_t *r, int which, const char *dest, size_t n) { return times_first(&r->at[which], records_index(r, dest, n), now_ms()); }

void records_dump(const records_t *r, buf_t *out, const char *id) {
  buf_printf(out, "{\"id\":%s,", id);
  times_json(out, r->names[0], &r->at[0], r->prefix, r->width);
  buf_puts(out, ",");
  times_json(out, r->names[1], &r->at[1], r->prefix, r->width);
  buf_puts(out, "}");
}

void unknown_command(buf_t *out, const char *line) {
  buf_puts(out, "{\"error\":");
  json_str(out, line, strlen(line));
  buf_puts(out, "}");
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  const char *opts = argc > 2 ? argv[2] : "{}";
  if (strcmp(mode, "receiver") == 0) return receiver_main(opts);
  if (strcmp(mode, "smsc") == 0) return smsc_main(opts);
  if (strcmp(mode, "load") == 0) return load_main(opts);
  if (strcmp(mode, "selftest") == 0) return selftest_main(opts);
  fprintf(stderr, "usage: rig receiver|smsc|load|selftest [json options]\n");
  return 64;
}
