/** `msctl doctor`: no options of its own. */
import type { Command } from 'commander';
import { type ActionFactory, withGlobalOptions } from '../../command';

export type DoctorOptions = Record<string, never>;

export function register(program: Command, action: ActionFactory<DoctorOptions>): void {
  withGlobalOptions(program.command('doctor').description('what this machine has and lacks (Node, Java, Kafka jars, Docker, ports, disk), each with the fix')).action(
    action(() => ({})),
  );
}
