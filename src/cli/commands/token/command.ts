/** `msctl token --client <name>`: its flags and options. */
import type { Command } from 'commander';
import { type ActionFactory, withGlobalOptions } from '../../command';

/** `msctl token --client <name>`: a service client's token. */
export interface TokenOptions {
  client: string;
  scopes: string[];
  ttl: string;
}

export function register(program: Command, action: ActionFactory<TokenOptions>): void {
  withGlobalOptions(program.command('token').description("a bearer token for a service client, signed with the stack's secret (end users log in through POST /api/auth/token)"))
    .requiredOption('--client <name>', 'who the token is for: its subject is client:<name>')
    .option('--scope <scope>', 'what end users cannot do, e.g. events:ingest (post events for any subject); repeatable', (value: string, all: string[]) => [...all, value], [] as string[])
    .option('--ttl <duration>', 'how long the token lives: 30m, 1h (at most 24h)', '1h')
    .action(action((_args, o) => ({ client: o.client as string, scopes: o.scope as string[], ttl: o.ttl as string })));
}
