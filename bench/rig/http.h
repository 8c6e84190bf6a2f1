#ifndef RIG_HTTP_H
#define RIG_HTTP_H

#include "rig.h"

typedef struct {
  int code; /* responses */
  const char *method, *target; /* requests */
  size_t method_len, target_len;
  const char *head; /* the head without its final CRLFCRLF */
  size_t head_len;
  const char *body; /* decoded when chunked (then in the scratch buffer) */
  size_t body_len;
  int keep_alive;
  int informational; /* a 1xx response: the real one follows */
  int until_close; /* a response whose body runs to the end of the connection */
  const char *error;
} http_msg;

/*
 * One message from the start of p[0..n): the bytes it took when complete, 0 when more are needed
 * (or, with m->until_close, the body runs to the close), -1 when it cannot be framed (m->error).
 */
long http_parse(const char *p, size_t n, int response, http_msg *m, buf_t *scratch);
/* The value of header `name` (case-insensitive, trimmed); 0 when absent. */
int http_header(const http_msg *m, const char *name, const char **val, size_t *len);

#endif
