'use strict';
/**
 * The framework's own ceiling: a bare Express 5 app whose POST /outbound_messages answers the
 * same 201 JSON:API document as the platform (a fresh UUID each time), with nothing else — no
 * authentication, no body parsing, no database. Our throughput is printed as a ratio of this one,
 * measured in the same run on the same machine.
 */
const crypto = require('node:crypto');
const express = require('express');

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.post('/outbound_messages', (_req, res) => {
  const body = JSON.stringify({ data: { id: crypto.randomUUID(), type: 'outbound_messages', attributes: { encoding: 'gsm7', segments: 1 } } });
  res.status(201).type('application/vnd.api+json').send(body);
});
const server = app.listen(0, '127.0.0.1', () => {
  const port = server.address().port;
  if (process.send) process.send({ ready: true, port });
  else console.log(`bare Express 5 on http://127.0.0.1:${port}/outbound_messages`);
});
server.keepAliveTimeout = 65_000;
process.on('disconnect', () => process.exit(0));
