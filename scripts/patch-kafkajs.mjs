#!/usr/bin/env node
/**
 * Fixes a known bug of kafkajs 2.2.4, its last release (the project is no longer maintained;
 * upstream: tulios/kafkajs issues #1556, #1704 and #1751, fixes in the open pull requests #1667
 * and #1768). After every answer, a connection's request queue re-arms its "check pending
 * requests" timer even when nothing is pending and nothing throttles: the delay is negative, Node
 * runs it after 1 ms, and it re-arms again. Every open broker connection so wakes its process a
 * thousand times a second, for as long as it stays open: CPU burnt in every service, the
 * supervisor and the dashboard, idle or not (and the TimeoutNegativeWarning Node prints).
 *
 * The fix is #1768's reviewed variant: with nothing pending and no throttle to wait out, nothing
 * is scheduled; a request pushed later is sent at once or checked again when an answer arrives,
 * as before. Run on every `npm install` (postinstall), before the services are bundled; it
 * changes nothing when the file is patched already, and stops with a clear message when kafkajs
 * is not the version it knows.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const root = dirname(require.resolve('kafkajs/package.json'));
const file = join(root, 'src', 'network', 'requestQueue', 'index.js');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

const BUGGY = `      if (this.pending.length > 0) {
        scheduleAt = scheduleAt > 0 ? scheduleAt : CHECK_PENDING_REQUESTS_INTERVAL
      }
      this.throttleCheckTimeoutId = setTimeout(() => {`;
const FIXED = `      if (this.pending.length > 0) {
        scheduleAt = scheduleAt > 0 ? scheduleAt : CHECK_PENDING_REQUESTS_INTERVAL
      } else if (scheduleAt <= 0) {
        // msctl: nothing pending and no throttle: no timer (kafkajs #1704, #1751)
        return
      }
      this.throttleCheckTimeoutId = setTimeout(() => {`;

const source = readFileSync(file, 'utf8');
if (source.includes(FIXED)) process.exit(0);
if (!source.includes(BUGGY)) {
  process.stderr.write(
    `scripts/patch-kafkajs.mjs: kafkajs ${version} is not the 2.2.4 this patch knows (${file} differs).\n` +
      'Check whether the new version fixed the idle timer loop (kafkajs #1704); if so, remove this script and its postinstall entry.\n',
  );
  process.exit(1);
}
writeFileSync(file, source.replace(BUGGY, FIXED));
process.stdout.write(`patched kafkajs ${version}: no idle request-queue timer (kafkajs #1704)\n`);
