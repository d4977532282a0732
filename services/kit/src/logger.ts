import { pino, type Logger } from 'pino';
import { activeTraceIds } from './tracing';

export type { Logger };

/** Lines wait for this many bytes, or for the next flush tick, before they are written. */
const LOG_BUFFER_BYTES = 4_096;
const LOG_FLUSH_MS = 100;

/**
 * Structured JSON logs on stdout, one line per record, with the service name on every line (and
 * trace_id/span_id inside a traced request or message). Written asynchronously and in chunks:
 * lines gather until there are 4 KiB of them or the next flush, at most 100 ms later, so a busy
 * service makes one write for many lines, and whoever reads its output (msctl's supervisor,
 * Docker) wakes once for them rather than once a line. Pino flushes what is pending when the
 * process exits.
 */
export function createLogger(service: string, level: string): Logger {
  const destination = pino.destination({ dest: 1, sync: false, minLength: LOG_BUFFER_BYTES });
  // Our own tick rather than sonic-boom's periodicFlush, which writes even when nothing is
  // pending: this one flushes only after a line. Two ticks, as a flush that finds a write in
  // flight leaves its lines for the next one.
  let ticksToFlush = 0;
  const flusher = setInterval(() => {
    if (ticksToFlush === 0) return;
    ticksToFlush--;
    destination.flush();
  }, LOG_FLUSH_MS);
  flusher.unref();
  destination.on('close', () => clearInterval(flusher));
  return pino(
    {
      level,
      base: { service, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin: activeTraceIds,
      hooks: {
        streamWrite: (line) => {
          ticksToFlush = 2;
          return line;
        },
      },
    },
    destination,
  );
}
