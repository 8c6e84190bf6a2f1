/*
 * `rig selftest`: known answers for the parts a wrong result would hide in the benchmark's numbers
 * (SHA-256, HMAC-SHA-256, base64, HTTP framing, destination indexes). Prints one line per failed
 * check and exits non-zero if any failed; test/bench/rig.test.ts runs it.
 */
#include <string.h>

#include "http.h"
#include "rig.h"

static int failures = 0;

static void check(int ok, const char *what) {
  if (!ok) {
    printf("FAIL %s\n", what);
    failures++;
  }
}

static void hex(const uint8_t *p, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", p[i]);
}

static long parse(const char *s, int response, http_msg *m, buf_t *scratch) { return http_parse(s, strlen(s), response, m, scratch); }

int selftest_main(const char *opts) {
  (void)opts;
  uint8_t d[32];
  char h[65];
  sha256((const uint8_t *)"abc", 3, d);
  hex(d, 32, h);
  check(strcmp(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0, "sha256(abc)");
  const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  sha256((const uint8_t *)two, strlen(two), d);
  hex(d, 32, h);
  check(strcmp(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0, "sha256(two blocks)");
  /* RFC 4231 test case 2 */
  hmac_sha256((const uint8_t *)"Jefe", 4, (const uint8_t *)"what do ya want for nothing?", 28, d);
  hex(d, 32, h);
  check(strcmp(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843") == 0, "hmac-sha256 (RFC 4231 case 2)");
  /* RFC 4231 test case 6: a key longer than the block */
  uint8_t key[131];
  memset(key, 0xaa, sizeof key);
  const char *msg6 = "Test Using Larger Than Block-Size Key - Hash Key First";
  hmac_sha256(key, sizeof key, (const uint8_t *)msg6, strlen(msg6), d);
  hex(d, 32, h);
  check(strcmp(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54") == 0, "hmac-sha256 (RFC 4231 case 6)");

  char b64[16];
  base64_encode((const uint8_t *)"foob", 4, b64);
  check(strcmp(b64, "Zm9vYg==") == 0, "base64 encode");
  uint8_t raw[16];
  long n = base64_decode("Zm9vYmFy", 8, raw);
  check(n == 6 && memcmp(raw, "foobar", 6) == 0, "base64 decode");
  check(base64_decode("Zm9v!", 5, raw) == -1, "base64 refuses a bad symbol");

  http_msg m;
  buf_t s = {0};
  const char *req = "POST /callbacks HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloPOST";
  long used = parse(req, 0, &m, &s);
  check(used == (long)strlen(req) - 4 && m.body_len == 5 && memcmp(m.body, "hello", 5) == 0 && m.keep_alive, "request with a body, then the next one's start");
  check(m.method_len == 4 && m.target_len == 10 && memcmp(m.target, "/callbacks", 10) == 0, "request line");
  check(parse("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel", 0, &m, &s) == 0, "a body not read yet");
  check(parse("POST / HTTP/1.1\r\nContent-Le", 0, &m, &s) == 0, "a head not read yet");
  check(parse("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 0, &m, &s) == -1, "conflicting Content-Length");
  check(parse("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 0, &m, &s) == -1, "a request with another coding");
  const char *chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nTrailer: 1\r\n\r\n";
  used = parse(chunked, 0, &m, &s);
  check(used == (long)strlen(chunked) && m.body_len == 11 && memcmp(m.body, "hello world", 11) == 0, "chunked body with an extension and a trailer");
  check(parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, &m, &s) == -1, "bad chunk size");
  check(parse("POST / HTTP/1.0\r\n\r\n", 0, &m, &s) > 0 && !m.keep_alive, "HTTP/1.0 closes by default");
  check(parse("POST / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0, &m, &s) > 0 && m.keep_alive, "HTTP/1.0 keep-alive");
  check(parse("POST / HTTP/1.1\r\nConnection: foo, close\r\n\r\n", 0, &m, &s) > 0 && !m.keep_alive, "Connection: close among tokens");
  check(parse("HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}", 1, &m, &s) > 0 && m.code == 201 && m.body_len == 2, "response");
  check(parse("HTTP/1.1 204 No Content\r\n\r\n", 1, &m, &s) > 0 && m.code == 204 && m.body_len == 0, "204 has no body");
  check(parse("HTTP/1.1 100 Continue\r\n\r\n", 1, &m, &s) > 0 && m.informational, "1xx skipped");
  check(parse("HTTP/1.1 200 OK\r\n\r\nabc", 1, &m, &s) == 0 && m.until_close, "a body to the close");
  check(parse("HTTP/1.1 2x0 OK\r\n\r\n", 1, &m, &s) == -1, "bad status line");
  check(parse("GARBAGE\r\n\r\n", 0, &m, &s) == -1, "bad request line");
  const char *v;
  size_t vn;
  parse("POST / HTTP/1.1\r\nwebhook-id: msg_1 \r\nX: y\r\n\r\n", 0, &m, &s);
  check(http_header(&m, "Webhook-Id", &v, &vn) && vn == 5 && memcmp(v, "msg_1", 5) == 0, "header lookup, case-insensitive and trimmed");
  check(!http_header(&m, "webhook-signature", &v, &vn), "absent header");
  buf_free(&s);

  check(dest_index("41000000042", 11, "410", 3, 8) == 42, "destination index");
  check(dest_index("4100000042", 10, "410", 3, 8) == -1, "destination of another width");
  check(dest_index("41100000042", 11, "410", 3, 8) == -1, "destination of another prefix");
  times_t t = {0};
  check(times_first(&t, 70000, 5.0) == 1 && times_first(&t, 70000, 6.0) == 0 && t.at[70000] == 5.0, "first time kept");
  buf_t j = {0};
  times_json(&j, "x", &t, "410", 8);
  check(j.len > 0 && strstr(j.p, "[\"41000070000\",5.000]") != NULL, "times as JSON");
  buf_free(&j);

  printf("%s: %d failed\n", failures ? "selftest FAILED" : "selftest ok", failures);
  return failures ? 1 : 0;
}
