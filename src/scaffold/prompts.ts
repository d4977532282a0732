/**
 * On a terminal, `scaffold new-service` asks for the choices its flags left open. Off a
 * terminal (or with --json / --yes) the defaults apply: no topics, no PostgreSQL, no route.
 */
import { createInterface } from 'node:readline/promises';
import { MsctlError } from '../core/errors';
import type { NewServiceInput } from './new-service';

export interface Prompter {
  ask(question: string): Promise<string>;
  close(): void;
}

/**
 * A prompter on node:readline. Lines typed (or piped) ahead of a question are kept for it.
 * Ctrl-C or the signal ends it with INTERRUPTED; input that ends early is a USAGE error.
 */
export function readlinePrompter(input: NodeJS.ReadableStream, output: NodeJS.WritableStream, signal?: AbortSignal): Prompter {
  const rl = createInterface({ input, output, terminal: (input as { isTTY?: boolean }).isTTY === true });
  const lines = rl[Symbol.asyncIterator]();
  const interrupted = new MsctlError('INTERRUPTED', 'interrupted; nothing was written');
  let rejectPending: ((error: unknown) => void) | undefined;
  let stopped: unknown;
  const stop = (reason: unknown) => {
    stopped ??= reason instanceof MsctlError ? reason : interrupted;
    rejectPending?.(stopped);
  };
  // In raw mode readline catches Ctrl-C itself: it ends the questions like SIGINT would.
  rl.on('SIGINT', () => stop(interrupted));
  let closed = false;
  rl.on('close', () => {
    closed = true;
  });
  const onAbort = () => stop(signal?.reason);
  if (signal?.aborted) onAbort();
  signal?.addEventListener('abort', onAbort, { once: true });
  return {
    ask: async (question) => {
      if (stopped) throw stopped;
      if (!closed) {
        rl.setPrompt(question);
        rl.prompt();
      }
      const next = await new Promise<IteratorResult<string>>((resolve, reject) => {
        rejectPending = reject;
        lines.next().then(resolve, reject);
      }).finally(() => {
        rejectPending = undefined;
      });
      if (next.done) throw new MsctlError('USAGE', 'the input ended before every question was answered', 'pass the choices as flags, e.g. --consumes, --postgres, --route (or --yes for the defaults)');
      return next.value;
    },
    close: () => {
      signal?.removeEventListener('abort', onAbort);
      rl.close();
    },
  };
}

const yes = (answer: string, fallback: boolean) => {
  const a = answer.trim().toLowerCase();
  if (a === '') return fallback;
  return a === 'y' || a === 'yes';
};

/** Asks for every choice `input` leaves undefined; keeps what the flags said. */
export async function askMissing(input: NewServiceInput, prompter: Prompter): Promise<NewServiceInput> {
  const answers: NewServiceInput = { ...input };
  if (input.consumes === undefined) {
    answers.consumes = [await prompter.ask('Topics it consumes (comma-separated, empty for none): ')];
  }
  if (input.produces === undefined) {
    answers.produces = [await prompter.ask('Topics it produces (comma-separated, empty for none): ')];
  }
  if (input.postgres === undefined) {
    answers.postgres = yes(await prompter.ask('Does it store data in PostgreSQL? [y/N] '), false);
  }
  if (input.route === undefined) {
    const route = `/api/${input.name}`;
    answers.route = yes(await prompter.ask(`Expose it through the gateway at ${route}? [y/N] `), false) ? route : false;
  }
  return answers;
}
