'use strict'

// Raw Kafka frames for the tests that speak the protocol by hand (malformed frames, SASL
// exchanges, hand-built batches): primitive encoders and a TCP connection that reads whole
// frames. Not a test itself.

const net = require('node:net')
const { withDeadline, DEADLINE_MS } = require('./helpers')

function int16(n) {
  const b = Buffer.alloc(2)
  b.writeInt16BE(n)
  return b
}

function int32(n) {
  const b = Buffer.alloc(4)
  b.writeInt32BE(n)
  return b
}

/** A STRING: int16 length, then UTF-8 bytes. */
function string(s) {
  const bytes = Buffer.from(s, 'utf8')
  return Buffer.concat([int16(bytes.length), bytes])
}

/** An unsigned varint, as flexible versions write lengths and tagged-field counts. */
function uvarint(n) {
  const out = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n >>>= 7
  }
  out.push(n)
  return Buffer.from(out)
}

function compactBytes(bytes) {
  return Buffer.concat([uvarint(bytes.length + 1), bytes])
}

/** A request frame (length prefix included) with a v1 (non-flexible) or v2 (flexible) header. */
function request(apiKey, version, correlationId, body, flexible = false) {
  const header = Buffer.concat([
    int16(apiKey),
    int16(version),
    int32(correlationId),
    string('raw-test'),
    flexible ? uvarint(0) : Buffer.alloc(0),
  ])
  const payload = Buffer.concat([header, body])
  return Buffer.concat([int32(payload.length), payload])
}

/** A raw TCP connection to a broker: send bytes, read whole frames, see it closed. */
async function rawConnection(port) {
  const socket = net.connect({ host: '127.0.0.1', port })
  let received = Buffer.alloc(0)
  let onData = () => {}
  socket.on('data', (chunk) => {
    received = Buffer.concat([received, chunk])
    onData()
  })
  // A reset counts as closed too; what matters is that the broker hung up.
  socket.on('error', () => {})
  let isClosed = false
  const closed = new Promise((resolve) =>
    socket.once('close', () => {
      isClosed = true
      onData()
      resolve()
    }),
  )
  await withDeadline(
    new Promise((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    }),
    DEADLINE_MS,
    'connecting',
  )
  return {
    send: (bytes) => socket.write(bytes),
    /** Resolves once the broker has closed the connection; fails the test if it does not. */
    closed: () => withDeadline(closed, DEADLINE_MS, 'the broker to close the connection'),
    get received() {
      return received
    },
    /** The next whole frame, length prefix stripped; fails if the connection closes first. */
    readFrame: () =>
      withDeadline(
        new Promise((resolve, reject) => {
          const check = () => {
            if (received.length >= 4 && received.length >= 4 + received.readInt32BE(0)) {
              const length = received.readInt32BE(0)
              const frame = received.subarray(4, 4 + length)
              received = received.subarray(4 + length)
              onData = () => {}
              resolve(frame)
            } else if (isClosed) {
              reject(new Error('the broker closed the connection instead of answering'))
            }
          }
          onData = check
          check()
        }),
        DEADLINE_MS,
        'a response frame',
      ),
    destroy: () => socket.destroy(),
  }
}

module.exports = { int16, int32, string, uvarint, compactBytes, request, rawConnection }
