/**
 * The processes that live as long as the stack (the supervisor, the services) never compare
 * names with localeCompare: its first call loads ICU's collation tables, about 2.5 MB of RSS
 * for the rest of the process's life (docs/performance.md).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareNames } from '../../services/kit/src/order';
import { repoRoot } from '../support/cli';

/** The modules of a bundle (its `// node_modules/…` and `// src/…` markers) that call localeCompare. */
async function callersIn(bundle: string): Promise<string[]> {
  const callers = new Set<string>();
  let module = '(top)';
  for (const line of (await readFile(join(repoRoot, bundle), 'utf8')).split('\n')) {
    const marker = /^\/\/ ((?:node_modules\/(?:@[^/]+\/)?[^/]+|src|services)\/\S*)$/.exec(line);
    if (marker) module = marker[1]!;
    if (line.includes('.localeCompare(')) callers.add(module);
  }
  return [...callers];
}

describe('names in code-unit order', () => {
  it('orders identifiers as sort() does, without a collator', () => {
    const names = ['users', 'data-processing', 'analytics', 'events.raw.dlq', 'events.raw', 'notifications', 'a1', 'a10', 'a2'];
    expect([...names].sort(compareNames)).toEqual([...names].sort());
    expect(compareNames('events', 'events')).toBe(0);
  });

  it('leaves localeCompare to kafkajs in the supervisor and every service, in replies they do not read once started', async () => {
    // kafkajs sorts the topics of CreateTopics, DeleteTopics, CreatePartitions and DeleteRecords replies.
    const kafkajsReplies = /^node_modules\/kafkajs\/src\/protocol\/requests\/(createTopics|deleteTopics|createPartitions|deleteRecords)\/v\d+\/response\.js$/;
    for (const bundle of ['dist/supervisor.js', ...['analytics', 'data-processing', 'gateway', 'notifications', 'users'].map((name) => `services/${name}/dist/main.js`)]) {
      const callers = await callersIn(bundle);
      expect(callers.filter((module) => !kafkajsReplies.test(module)), bundle).toEqual([]);
    }
  });
});
