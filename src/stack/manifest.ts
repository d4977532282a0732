import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { MsctlError } from '../core/errors';
import { compareNames } from '../../services/kit/src/order';

const serviceName = z.string().regex(/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/, 'lowercase kebab-case');

export const INFRASTRUCTURE = ['postgres', 'kafka'] as const;

export const manifestSchema = z.object({
  name: serviceName,
  description: z.string().default(''),
  port: z.number().int().min(1).max(65535),
  healthPath: z.string().startsWith('/').default('/health'),
  /** Infrastructure (postgres, kafka) and other services this one needs before it starts. */
  needs: z.array(z.string()).default([]),
  produces: z.array(z.string()).default([]),
  consumes: z.array(z.string()).default([]),
  replicas: z.number().int().min(1).default(1),
  /** This service routes /api/** to the others: it is given the routing table built from every manifest. */
  gateway: z.boolean().default(false),
  /** Seconds the service may take to become healthy before `msctl up` gives up on it. */
  startTimeoutSeconds: z.number().int().positive().optional(),
  routes: z
    .array(
      z.object({
        prefix: z.string().startsWith('/api/'),
        upstreamPath: z.string().startsWith('/'),
        public: z.array(z.string()).default([]),
      }),
    )
    .default([]),
});

export type ServiceManifest = z.infer<typeof manifestSchema> & { dir: string };

/** Every `services/<name>/service.json`; folders without one (like the shared kit) are not services. */
export async function loadManifests(servicesDir: string): Promise<ServiceManifest[]> {
  const entries = await readdir(servicesDir, { withFileTypes: true }).catch((error: unknown) => {
    throw new MsctlError('USAGE', `cannot read the services folder ${servicesDir}: ${(error as Error).message}`, 'run msctl from the project folder, or pass --project-dir');
  });
  const manifests: ServiceManifest[] = [];
  for (const entry of entries.filter((e) => e.isDirectory()).sort((a, b) => compareNames(a.name, b.name))) {
    const dir = join(servicesDir, entry.name);
    const file = join(dir, 'service.json');
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      continue;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new MsctlError('USAGE', `${file} is not valid JSON: ${(error as Error).message}`, 'fix the manifest');
    }
    const result = manifestSchema.safeParse(json);
    if (!result.success) {
      const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
      throw new MsctlError('USAGE', `${file} is not a valid service manifest: ${problems}`, 'fix the manifest');
    }
    if (result.data.name !== entry.name) {
      throw new MsctlError('USAGE', `${file} names the service "${result.data.name}" but its folder is "${entry.name}"`, 'make them the same');
    }
    manifests.push({ ...result.data, dir });
  }
  return manifests;
}

export interface GatewayRouteConfig {
  upstream: string;
  /** Every instance of the upstream; the gateway balances across them. */
  urls: string[];
  prefix: string;
  upstreamPath: string;
  public: string[];
}

/** The gateway's routing table from every manifest's routes: the gateway needs no code change for a new service. */
export function gatewayRoutes(manifests: ServiceManifest[], urlsOf: (service: string) => string[]): GatewayRouteConfig[] {
  return manifests.flatMap((manifest) =>
    manifest.routes.map((route) => ({
      upstream: manifest.name,
      urls: urlsOf(manifest.name),
      prefix: route.prefix,
      upstreamPath: route.upstreamPath,
      public: route.public,
    })),
  );
}

/**
 * Every topic the stack uses, with the partitions it needs: at least `minimumPartitions`, and
 * at least as many as the largest consumer group reading it (`replicas` overrides manifests).
 */
export function stackTopics(manifests: ServiceManifest[], minimumPartitions = 3, replicas: Record<string, number> = {}): Array<{ topic: string; partitions: number }> {
  const partitions = new Map<string, number>();
  for (const manifest of manifests) {
    const consumers = replicas[manifest.name] ?? manifest.replicas;
    for (const topic of manifest.produces) partitions.set(topic, Math.max(partitions.get(topic) ?? minimumPartitions, minimumPartitions));
    for (const topic of manifest.consumes) partitions.set(topic, Math.max(partitions.get(topic) ?? minimumPartitions, consumers));
  }
  return [...partitions].map(([topic, count]) => ({ topic, partitions: count })).sort((a, b) => compareNames(a.topic, b.topic));
}
