/*
 * The benchmark rig's native half: the callback receiver, the SMPP SMSC and the open-loop load
 * generator, in C (bench/rig/README.md says why). One binary, `rig <receiver|smsc|load> [json]`,
 * built by bench/lib/rig.js with the machine's C compiler. Each mode is one process with one
 * thread and one epoll loop; it reads commands from stdin (one per line) and writes JSON lines to
 * stdout.
 */
#ifndef RIG_H
#define RIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>

/* A growable byte buffer; `off` is where unread bytes start. */
typedef struct {
  char *p;
  size_t len, cap, off;
} buf_t;

void buf_reserve(buf_t *b, size_t extra);
void buf_put(buf_t *b, const void *data, size_t n);
void buf_puts(buf_t *b, const char *s);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the first `n` unread bytes (compacting now and then). */
void buf_consume(buf_t *b, size_t n);
static inline char *buf_data(buf_t *b) { return b->p + b->off; }
static inline size_t buf_size(const buf_t *b) { return b->len - b->off; }
void buf_free(buf_t *b);

/* Wall-clock milliseconds with sub-millisecond precision, comparable across the rig's processes
 * and with Node's performance.timeOrigin + performance.now(). */
double now_ms(void);

/* The event loop: one epoll set, handlers by fd. */
typedef void (*io_fn)(void *ctx, uint32_t events);
void loop_init(void);
void loop_add(int fd, uint32_t events, io_fn fn, void *ctx);
void loop_mod(int fd, uint32_t events, void *ctx, io_fn fn);
void loop_del(int fd);
/* Runs until loop_stop(); `idle` runs after every batch of events, `timeout_ms` bounds each wait. */
typedef void (*tick_fn)(void);
void loop_run(tick_fn after_events, int (*timeout_ms)(void));
void loop_stop(void);

int set_nonblocking(int fd);
/* Reads what the socket has into b: 1 once it has nothing more for now, 0 at the end of the stream,
 * -1 on an error (errno says which). */
int read_available(int fd, buf_t *b);
/* Writes what b holds: 1 when all of it is written, 0 when the rest must wait for EPOLLOUT, -1 on an
 * error (errno says which). */
int write_pending(int fd, buf_t *b);
/* Watches fd for EPOLLOUT as well as EPOLLIN (plus `extra`) while output is pending, and stops once it
 * is not; `*watching` remembers which. */
void watch_writable(int fd, int pending, int *watching, uint32_t extra, void *ctx, io_fn fn);
/* A server's connection: its socket, what came in and what goes out. */
typedef struct {
  int fd;
  buf_t in, out;
  /* Hang up once `out` is written. */
  int closing;
  int want_out;
} peer_t;
/* Writes what the peer has to send; on an error, or once all is written while closing, calls
 * close_fn(ctx) (half-closing first when asked) and returns 0; else watches for EPOLLOUT as needed
 * and returns 1. */
int peer_flush(peer_t *p, int half_close, void (*close_fn)(void *ctx), void *ctx, io_fn on_io);
/* The servers' start: listens on the options' host and port (127.0.0.1, any free port), accepting
 * with on_accept (its ctx is the listening fd), takes stdin commands with on_line, says
 * {"ready":true,"port":N} and runs the loop. Returns only if it cannot listen. */
int serve(const char *mode, const char *opts, io_fn on_accept, void (*on_line)(char *line), tick_fn after_events, int (*timeout_ms)(void));
int listen_loopback(const char *host, int port, int *bound_port);
int connect_loopback(const char *host, int port);

/* Control: stdin lines, handed to `on_line` (without the newline); EOF ends the process. */
void control_init(void (*on_line)(char *line));
/* Writes a whole JSON line (the buffer's content plus '\n') to stdout, blocking until written. */
void emit(buf_t *line);
/* Appends `s` as a JSON string. */
void json_str(buf_t *b, const char *s, size_t n);

/* A flat JSON options object: the value of `key` as a number or string, or the default. */
double opt_num(const char *json, const char *key, double dflt);
/* Copies the string value of `key` into out (NUL-terminated, at most cap-1 bytes); 0 when absent. */
int opt_str(const char *json, const char *key, char *out, size_t cap);

/* Destinations are `prefix` + exactly `width` decimal digits: the digits index the per-destination
 * records. -1 for anything else. */
long dest_index(const char *dest, size_t n, const char *prefix, size_t prefix_len, int width);

/* Per-destination first times (ms), indexed by dest_index; 0 = none yet. */
typedef struct {
  double *at;
  size_t cap;
  size_t hi; /* one past the highest index set */
} times_t;
/* Sets index i to t unless already set: 1 when set now, 0 when it had a time, -1 when out of range. */
int times_first(times_t *t, long i, double at);
void times_clear(times_t *t);
/* `"name":[[dest,t],…]` with dest = prefix + the index zero-padded to `width` digits. */
void times_json(buf_t *b, const char *name, const times_t *t, const char *prefix, int width);

/* A run's records: two per-destination first times (the receiver's status and DLR callbacks, the
 * SMSC's submits and receipts) for the destinations of one prefix and width. */
typedef struct {
  char prefix[64];
  size_t prefix_len;
  int width;
  const char *names[2];
  times_t at[2];
} records_t;
/* `record <prefix|-> <width>`: clears both and counts only that prefix from now on. */
void records_reset(records_t *r, const char *prefix, const char *width);
/* The destination's index in this run, or -1 for another prefix or width. */
long records_index(const records_t *r, const char *dest, size_t n);
/* 1 when set now, 0 when it had a time, -1 when not a destination of this run. */
int records_first(records_t *r, int which, const char *dest, size_t n);
/* The answer to `dump <id>`: {"id":…,"<name0>":[…],"<name1>":[…]}. */
void records_dump(const records_t *r, buf_t *out, const char *id);
/* The answer to a command nobody knows. */
void unknown_command(buf_t *out, const char *line);

/* SHA-256, HMAC-SHA-256 and base64, for verifying Standard Webhooks signatures. */
void hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t msg_len, uint8_t out[32]);
void sha256(const uint8_t *data, size_t len, uint8_t out[32]);
size_t base64_encode(const uint8_t *in, size_t n, char *out);
/* Returns the decoded length, or -1 on a malformed input. */
long base64_decode(const char *in, size_t n, uint8_t *out);

int receiver_main(const char *opts);
int smsc_main(const char *opts);
int load_main(const char *opts);
int selftest_main(const char *opts);

#endif
