/** `msctl token [username]` and `msctl token --client <name>`: their flags and options. */
import type { Command } from 'commander';
import { type ActionFactory, withGlobalOptions } from '../../command';

/** An end user's token (username, default `dev`), or a service client's (client). */
export interface TokenOptions {
  username: string | undefined;
  client: string | undefined;
  scopes: string[];
  ttl: string | undefined;
  /** Print `export TOKEN='…'`, for `eval $(msctl token --export)`. */
  export: boolean;
}

export function register(program: Command, action: ActionFactory<TokenOptions>): void {
  withGlobalOptions(
    program
      .command('token')
      .description("a bearer token: a development end user's, signed up and logged in through the gateway (default user: dev), or with --client a service client's, signed with the stack's secret"),
  )
    .argument('[username]', 'the development user to log in as, signed up the first time (default: dev)')
    .option('--client <name>', "a service client's token instead: its subject is client:<name>")
    .option('--scope <scope>', 'with --client: what end users cannot do, e.g. events:ingest (post events for any subject); repeatable', (value: string, all: string[]) => [...all, value], [] as string[])
    .option('--ttl <duration>', 'with --client: how long the token lives: 30m, 1h (at most 24h; default 1h)')
    .option('--export', "print export TOKEN='…' for the shell: eval $(msctl token --export)")
    .action(
      action(([username], o) => ({
        username: username as string | undefined,
        client: o.client as string | undefined,
        scopes: o.scope as string[],
        ttl: o.ttl as string | undefined,
        export: Boolean(o.export),
      })),
    );
}
