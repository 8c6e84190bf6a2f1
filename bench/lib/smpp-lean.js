'use strict';
/**
 * What the rig's SMPP peers (the SMSC, the bare gateway) do to cost less CPU with the npm `smpp`
 * library, since the rig's CPU is taken from the systems it measures (the SMSC is in C now, so the
 * bare gateway is what uses it). The platform's connector did the same until it got a codec of its
 * own (control-plane/src/connectors/smpp-wire.ts); the bench keeps this copy so that the bare
 * gateway loads none of the code it measures.
 */
const smpp = require('smpp');

/**
 * A received `command`'s short_message stays the bytes that came, instead of being decoded as
 * GSM 03.38 (a table rebuilt into an array and a RegExp per PDU). Process-wide, for that command.
 */
function keepShortMessageBytes(command) {
  const param = smpp.commands[command].params.short_message;
  param.filter = { encode: param.filter.encode, decode: (value) => value };
}

/**
 * What a session writes in one turn of the event loop leaves in one write, not one syscall per PDU.
 */
function coalesceWrites(session) {
  const send = session.send.bind(session);
  let corked = false;
  session.send = (...args) => {
    const socket = session.socket;
    if (!corked && socket.writable) {
      corked = true;
      socket.cork();
      setImmediate(() => {
        corked = false;
        socket.uncork();
      });
    }
    return send(...args);
  };
}

module.exports = { keepShortMessageBytes, coalesceWrites };
