import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout, one line per record, with the service name on every line. */
export function createLogger(service: string, level: string): Logger {
  return pino({
    level,
    base: { service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
