/** What the test harness provides (see global-setup.ts) plus small helpers for tests. */
import { randomBytes } from 'node:crypto';
import { createDatabase } from '../../src/infra/postgres/server';

declare module 'vitest' {
  export interface ProvidedContext {
    /** 127.0.0.1:<port> of the run's Kafka broker. */
    kafkaBootstrap: string;
    /** postgres://…/postgres of the run's PostgreSQL server (superuser). */
    postgresUrl: string;
    /**
     * The run's temp dir (mode 755, removed on teardown). Tests that start their own servers
     * put their data below it: teardown stops any kafka.pid / postmaster.pid found there.
     */
    infraTempDir: string;
  }
}

/** prefix + random suffix: a fresh name for a topic, group, schema or database. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`.toLowerCase();
}

/** Creates a fresh database on the run's server and returns its URL. */
export function createTestDatabase(postgresUrl: string, prefix = 'test'): Promise<string> {
  return createDatabase(postgresUrl, uniqueName(prefix.replace(/[^a-zA-Z0-9_]/g, '_')));
}
