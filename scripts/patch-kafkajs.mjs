#!/usr/bin/env node
/**
 * Three changes to kafkajs 2.2.4, its last release (the project is no longer maintained). Run on
 * every `npm install` (postinstall), before the services are bundled; a change already made is
 * left as it is, and the script stops with a clear message when a file is not the one it knows.
 *
 * 1. The idle timer loop, a known bug (upstream: tulios/kafkajs issues #1556, #1704 and #1751,
 *    fixes in the open pull requests #1667 and #1768). After every answer, a connection's request
 *    queue re-arms its "check pending requests" timer even when nothing is pending and nothing
 *    throttles: the delay is negative, Node runs it after 1 ms, and it re-arms again. Every open
 *    broker connection so wakes its process a thousand times a second, for as long as it stays
 *    open: CPU burnt in every service, the supervisor and the dashboard, idle or not (and the
 *    TimeoutNegativeWarning Node prints). The fix is #1768's reviewed variant: with nothing
 *    pending and no throttle to wait out, nothing is scheduled; a request pushed later is sent at
 *    once or checked again when an answer arrives, as before.
 *
 * 2. The encoder's zeroed buffers. Every record, and every header of every record, is encoded
 *    into a new `Buffer.alloc(512)`: a fresh zero-filled allocation each, outside Node's buffer
 *    pool. The encoder writes each byte before `offset` passes it and hands out only the bytes
 *    before `offset` (`get buffer()`), so the zeroing is never seen: `Buffer.allocUnsafe` takes
 *    the same buffers from the pool. Encoding a produce request of 50 CloudEvents (two headers
 *    each, as the kit sends them): 14.2–15.4 → 8.9–9.5 µs of CPU per record.
 *
 * 3. The encoder's varints. Each varint (a record has seven or more: its length, timestamp and
 *    offset deltas, key and value lengths, header count, each header's two lengths) is pushed
 *    into an array, made into a new Buffer and copied in. Written in place, byte by byte, the
 *    bytes are the same: 10.2–10.6 → 7.2–7.6 µs of CPU per record, on the same 50 CloudEvents.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const root = dirname(require.resolve('kafkajs/package.json'));
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

const PATCHES = [
  {
    file: join('src', 'network', 'requestQueue', 'index.js'),
    what: 'no idle request-queue timer (kafkajs #1704)',
    unless: 'whether the new version fixed the idle timer loop (kafkajs #1704)',
    replacements: [
      [
        `      if (this.pending.length > 0) {
        scheduleAt = scheduleAt > 0 ? scheduleAt : CHECK_PENDING_REQUESTS_INTERVAL
      }
      this.throttleCheckTimeoutId = setTimeout(() => {`,
        `      if (this.pending.length > 0) {
        scheduleAt = scheduleAt > 0 ? scheduleAt : CHECK_PENDING_REQUESTS_INTERVAL
      } else if (scheduleAt <= 0) {
        // msctl: nothing pending and no throttle: no timer (kafkajs #1704, #1751)
        return
      }
      this.throttleCheckTimeoutId = setTimeout(() => {`,
      ],
    ],
  },
  {
    file: join('src', 'protocol', 'encoder.js'),
    what: "the encoder's buffers from Node's pool, not zeroed",
    unless: 'whether the new version stopped zero-filling a new buffer for every encoder',
    replacements: [
      [
        `    this.buf = Buffer.alloc(Encoder.nextPowerOfTwo(initialSize))`,
        `    // msctl: every byte is written before it is read (\`buffer\` ends at \`offset\`): no zeroing needed
    this.buf = Buffer.allocUnsafe(Encoder.nextPowerOfTwo(initialSize))`,
      ],
      [`      const newBuffer = Buffer.alloc(newLength)`, `      const newBuffer = Buffer.allocUnsafe(newLength)`],
    ],
  },
  {
    file: join('src', 'protocol', 'encoder.js'),
    what: "the encoder's varints written in place",
    unless: 'whether the new version still builds a Buffer for every varint it writes',
    replacements: [
      [
        `  writeUVarInt(value) {
    const byteArray = []
    while ((value & UNSIGNED_INT32_MAX_NUMBER) !== 0) {
      byteArray.push((value & OTHER_BITS) | MOST_SIGNIFICANT_BIT)
      value >>>= 7
    }
    byteArray.push(value & OTHER_BITS)
    this.writeBufferInternal(Buffer.from(byteArray))
    return this
  }`,
        `  writeUVarInt(value) {
    // msctl: at most 5 bytes, written in place rather than through an array and a new Buffer
    this.ensureAvailable(5)
    while ((value & UNSIGNED_INT32_MAX_NUMBER) !== 0) {
      this.buf[this.offset++] = (value & OTHER_BITS) | MOST_SIGNIFICANT_BIT
      value >>>= 7
    }
    this.buf[this.offset++] = value & OTHER_BITS
    return this
  }`,
      ],
      [
        `    byteArray.push(longValue.toInt())

    this.writeBufferInternal(Buffer.from(byteArray))
    return this`,
        `    byteArray.push(longValue.toInt())

    // msctl: written in place rather than through a new Buffer
    this.ensureAvailable(byteArray.length)
    for (const byte of byteArray) this.buf[this.offset++] = byte
    return this`,
      ],
    ],
  },
];

for (const patch of PATCHES) {
  const file = join(root, patch.file);
  const source = readFileSync(file, 'utf8');
  if (patch.replacements.every(([, after]) => source.includes(after))) continue;
  if (!patch.replacements.every(([before]) => source.includes(before))) {
    process.stderr.write(
      `scripts/patch-kafkajs.mjs: kafkajs ${version} is not the 2.2.4 this patch knows (${file} differs).\n` +
        `Check ${patch.unless}; if so, remove that patch from this script (and the script and its postinstall entry once none is left).\n`,
    );
    process.exit(1);
  }
  writeFileSync(file, patch.replacements.reduce((text, [before, after]) => text.replace(before, after), source));
  process.stdout.write(`patched kafkajs ${version}: ${patch.what}\n`);
}
