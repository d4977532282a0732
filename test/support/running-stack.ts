/**
 * A whole stack for one test file: a throwaway project started with `msctl up -d` (local
 * runtime) before its tests and taken down with `down -v` after them, plus the calls the
 * tests make to it.
 */
import type { Result } from 'execa';
import pg from 'pg';
import { afterAll, beforeAll, expect } from 'vitest';
import { superuserUrl } from '../../src/stack/endpoints';
import { loadProject } from '../../src/stack/project';
import { ensureSecrets } from '../../src/stack/secrets';
import type { StackStatus } from '../../src/runtime/types';
import { clientToken, msctl, repoRoot, statusOf } from './cli';
import { gatewayClient } from './gateway-client';
import { drained } from './lag';
import { createThrowawayProject, type ThrowawayProject } from './throwaway-project';

export interface RunningStack {
  project(): ThrowawayProject;
  /** The built msctl against this stack. */
  run(args: string[]): Promise<Result>;
  status(): Promise<StackStatus>;
  gateway(): string;
  post(path: string, body: unknown, token?: string): Promise<Response>;
  /** A service client's token (`msctl token --client`), e.g. with events:ingest to post for any subject. */
  clientToken(client: string, scopes: string[]): Promise<string>;
  /** Signs up a user and returns a token for it. */
  login(username: string): Promise<{ id: string; token: string }>;
  /** Waits until the consumer group has committed everything in its topics (lag 0), as `msctl topics groups` sees it. */
  drained(group: string, timeoutMs?: number): Promise<void>;
  /** One query on the stack's own PostgreSQL, as its owner: to read what a service stored. */
  query<Row extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<Row[]>;
}

export function stackForThisFile(): RunningStack {
  let project: ThrowawayProject | undefined;
  const current = () => {
    if (!project) throw new Error('the stack is not started yet');
    return project;
  };
  const run = (args: string[]) => msctl([...args, '--project-dir', current().dir], { env: current().env });
  const gateway = () => `http://127.0.0.1:${current().ports.gateway}`;
  const client = gatewayClient(gateway);
  beforeAll(async () => {
    project = await createThrowawayProject(repoRoot);
    const up = await run(['up', '-d']);
    expect(up.exitCode, `${up.stdout}\n${up.stderr}`).toBe(0);
  });
  afterAll(async () => {
    if (!project) return;
    await run(['down', '-v']);
    await project.remove();
  });
  return {
    project: current,
    run,
    status: () => statusOf(current().dir, current().env),
    gateway,
    post: client.post,
    login: client.login,
    clientToken: (name, scopes) => clientToken(current().dir, current().env, name, scopes),
    drained: (group: string, timeoutMs?: number) => drained((args) => run(['topics', ...args]), group, timeoutMs),
    query: async <Row extends pg.QueryResultRow>(sql: string, params: unknown[] = []) => {
      const project = await loadProject(current().dir, { ...process.env, ...current().env });
      const db = new pg.Client({ connectionString: superuserUrl(project, await ensureSecrets(project.stateDir)) });
      await db.connect();
      try {
        return (await db.query<Row>(sql, params)).rows;
      } finally {
        await db.end();
      }
    },
  };
}
