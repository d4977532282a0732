import { CommanderError, InvalidArgumentError } from 'commander';
import { describe, expect, it, vi } from 'vitest';
import { MsctlError } from '../../src/core/errors';
import { handleError, installInterruptHandler, type ExitIo } from '../../src/cli/exit';

function io(flags: Partial<Pick<ExitIo, 'json' | 'verbose' | 'color'>> = {}) {
  const out = { stdout: '', stderr: '' };
  const value: ExitIo = {
    stdout: { write: (s: string) => (out.stdout += s) },
    stderr: { write: (s: string) => (out.stderr += s) },
    json: false,
    verbose: false,
    color: false,
    ...flags,
  };
  return { io: value, out };
}

describe('exit handler', () => {
  it('MsctlError: message and hint on stderr, no stack; exit code by code', () => {
    const { io: target, out } = io();
    const code = handleError(new MsctlError('PORT_IN_USE', 'Port 4000 (gateway) is in use.', 'stop what listens on 4000'), target);
    expect(code).toBe(1);
    expect(out.stderr).toBe('error: Port 4000 (gateway) is in use.\nhint: stop what listens on 4000\n');
    expect(out.stderr).not.toMatch(/\n\s+at /);
    expect(out.stdout).toBe('');
  });

  it('usage errors exit 2, interrupted 130', () => {
    expect(handleError(new MsctlError('USAGE', 'unknown service: x'), io().io)).toBe(2);
    const interrupted = io();
    expect(handleError(new MsctlError('INTERRUPTED', 'interrupted (SIGINT)'), interrupted.io)).toBe(130);
    expect(interrupted.out.stderr).toBe('interrupted (SIGINT)\n');
  });

  it('commander usage errors exit 2; help and version exit 0', () => {
    expect(handleError(new CommanderError(1, 'commander.unknownCommand', "error: unknown command 'x'"), io().io)).toBe(2);
    expect(handleError(new CommanderError(1, 'commander.unknownOption', "error: unknown option '--x'"), io().io)).toBe(2);
    expect(handleError(new CommanderError(1, 'commander.missingArgument', "error: missing required argument 'service'"), io().io)).toBe(2);
    expect(handleError(new InvalidArgumentError('bad'), io().io)).toBe(2);
    expect(handleError(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'), io().io)).toBe(0);
    expect(handleError(new CommanderError(0, 'commander.version', '0.1.0'), io().io)).toBe(0);
  });

  it('unexpected errors: message and a pointer to --verbose; the stack only with --verbose', () => {
    const quiet = io();
    expect(handleError(new TypeError('x is undefined'), quiet.io)).toBe(1);
    expect(quiet.out.stderr).toBe('error: x is undefined\nrun with --verbose for details\n');

    const verbose = io({ verbose: true });
    handleError(new TypeError('x is undefined', { cause: new Error('root cause') }), verbose.io);
    expect(verbose.out.stderr).toMatch(/^error: x is undefined\nTypeError: x is undefined\n\s+at /);
    expect(verbose.out.stderr).toContain('caused by: Error: root cause');
  });

  it('with --json also prints {"error":{code,message,hint}} on stdout', () => {
    const a = io({ json: true });
    handleError(new MsctlError('NOT_RUNNING', 'nothing runs', 'msctl up'), a.io);
    expect(JSON.parse(a.out.stdout)).toEqual({ error: { code: 'NOT_RUNNING', message: 'nothing runs', hint: 'msctl up' } });
    const b = io({ json: true });
    handleError(new CommanderError(1, 'commander.unknownCommand', "error: unknown command 'x'"), b.io);
    expect(JSON.parse(b.out.stdout)).toEqual({ error: { code: 'USAGE', message: "unknown command 'x'" } });
    const c = io({ json: true });
    handleError(new Error('boom'), c.io);
    expect(JSON.parse(c.out.stdout)).toEqual({ error: { code: 'INTERNAL', message: 'boom' } });
  });

  it('colours error and hint only when colour is on', () => {
    const plain = io();
    handleError(new MsctlError('TIMEOUT', 'slow', 'wait'), plain.io);
    expect(plain.out.stderr).not.toContain('\u001b[');
    const coloured = io({ color: true });
    handleError(new MsctlError('TIMEOUT', 'slow', 'wait'), coloured.io);
    expect(coloured.out.stderr).toContain('\u001b[');
  });
});

describe('interrupt handler', () => {
  it('the first signal aborts the command; it exits 130 when the command does not finish in time', async () => {
    vi.useFakeTimers();
    try {
      const exit = vi.fn();
      const handle = installInterruptHandler({ signals: ['SIGUSR2'], graceMs: 3_000, exit });
      expect(handle.signal.aborted).toBe(false);
      process.emit('SIGUSR2', 'SIGUSR2');
      expect(handle.signal.aborted).toBe(true);
      expect(handle.signal.reason).toBeInstanceOf(MsctlError);
      expect((handle.signal.reason as MsctlError).code).toBe('INTERRUPTED');
      expect(handle.received).toBe('SIGUSR2');
      vi.advanceTimersByTime(2_999);
      expect(exit).not.toHaveBeenCalled();
      vi.advanceTimersByTime(1);
      expect(exit).toHaveBeenCalledWith(130);
      handle.dispose();
    } finally {
      vi.useRealTimers();
    }
  });

  it('a second signal exits at once', () => {
    const exit = vi.fn();
    const handle = installInterruptHandler({ signals: ['SIGUSR2'], graceMs: 60_000, exit });
    process.emit('SIGUSR2', 'SIGUSR2');
    process.emit('SIGUSR2', 'SIGUSR2');
    expect(exit).toHaveBeenCalledWith(130);
    handle.dispose();
    expect(process.listenerCount('SIGUSR2')).toBe(0);
  });
});
