/** `msctl export k8s|compose`: their flags and options. */
import type { Command } from 'commander';
import { type ActionFactory, withGlobalOptions } from '../../command';

/** `msctl export k8s|compose`. */
export type ExportOptions =
  | { target: 'k8s'; out: string | undefined; registry: string | undefined; tag: string | undefined; build: boolean; offline: boolean }
  | { target: 'compose'; out: string | undefined; offline: boolean };

export function register(program: Command, action: ActionFactory<ExportOptions>): void {
  const exporter = program.command('export').description('the stack as Kubernetes manifests (export k8s) or a Compose file (export compose)');
  withGlobalOptions(exporter.command('k8s').description('a Kustomize base and dev/prod overlays: Deployments, Services, PDBs, HPA/KEDA, Strimzi Kafka, CloudNativePG'))
    .option('-o, --out <dir>', 'output folder (default: deploy/k8s in the project)')
    .option('--registry <prefix>', 'image repository prefix: images are <prefix>/<project>-<service> (default: msctl, as built locally)')
    .option('--tag <tag>', 'image tag of every service (default: latest)')
    .option('--build', 'build (or find) the service images with the Docker daemon and pin their content tags')
    .option('--offline', 'with --build: never pull')
    .action(
      action((_args, o) => ({
        target: 'k8s' as const,
        out: o.out as string | undefined,
        registry: o.registry as string | undefined,
        tag: o.tag as string | undefined,
        build: Boolean(o.build),
        offline: Boolean(o.offline),
      })),
    );
  withGlobalOptions(exporter.command('compose').description('a Compose file with the images, environment, health checks and volumes of `msctl up --runtime docker`'))
    .option('-o, --out <file>', 'output file (default: compose.yaml in the project)')
    .option('--offline', 'build missing infrastructure images from this machine\'s toolchain instead of pulling')
    .action(action((_args, o) => ({ target: 'compose' as const, out: o.out as string | undefined, offline: Boolean(o.offline) })));
}
