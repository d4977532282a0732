/**
 * The templates of a new service: real files under templates/new-service/, rendered with
 * Mustache (no HTML escaping: the output is code). Pure apart from reading the templates.
 */
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import Mustache from 'mustache';
import { MsctlError } from '../core/errors';

export interface Template {
  /** Where the rendered file goes, relative to the service folder (posix separators, no .tmpl). */
  path: string;
  source: string;
}

export interface RenderedFile {
  path: string;
  contents: string;
}

/** What the templates are rendered with; templates/new-service/README.md describes each. */
export interface ServiceSpec {
  name: string;
  description: string;
  port: number;
  consumes: string[];
  produces: string[];
  postgres: boolean;
  /** The gateway prefix (/api/…), or undefined when the service is not exposed. */
  route: string | undefined;
}

const TEMPLATE_SET = join('templates', 'new-service');

/**
 * The project's own templates/new-service/ when it has one, else the templates msctl ships
 * (found upwards from this module: src/scaffold/ in development, dist/ when built).
 */
export function findTemplatesDir(projectRoot: string, from: string = import.meta.dirname): string {
  const own = join(projectRoot, TEMPLATE_SET);
  if (existsSync(own)) return own;
  let dir = resolve(from);
  for (;;) {
    const candidate = join(dir, TEMPLATE_SET);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new MsctlError('INTERNAL', `msctl's ${TEMPLATE_SET} folder is missing`, 'reinstall msctl');
    dir = parent;
  }
}

/** Every `*.tmpl` below `dir`; other files (the README) are documentation, not output. */
export async function loadTemplates(dir: string): Promise<Template[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const templates: Template[] = [];
  for (const entry of entries) {
    if (!entry.isFile() || !entry.name.endsWith('.tmpl')) continue;
    const file = join(entry.parentPath, entry.name);
    templates.push({ path: relative(dir, file).split(sep).join('/').slice(0, -'.tmpl'.length), source: await readFile(file, 'utf8') });
  }
  return templates.sort((a, b) => a.path.localeCompare(b.path));
}

/** JSON on one line, spaced like the hand-written manifests: ["a", "b"], [{ "k": "v" }]. */
export function inlineJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(inlineJson).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).map(([key, item]) => `${JSON.stringify(key)}: ${inlineJson(item)}`);
    return entries.length ? `{ ${entries.join(', ')} }` : '{}';
  }
  return JSON.stringify(value);
}

const pascal = (name: string) => name.split('-').map((part) => part.charAt(0).toUpperCase() + part.slice(1)).join('');
const camel = (name: string) => pascal(name).charAt(0).toLowerCase() + pascal(name).slice(1);
const topicList = (topics: string[]) => topics.map((topic, index) => ({ topic, last: index === topics.length - 1 }));

/** The Mustache view: the spec plus the derived names and flags the templates use. */
export function templateView(spec: ServiceSpec): Record<string, unknown> {
  const consumer = spec.consumes.length > 0;
  const producer = spec.produces.length > 0;
  const kafka = consumer || producer;
  const needs = [...(kafka ? ['kafka'] : []), ...(spec.postgres ? ['postgres'] : [])];
  const routes = spec.route ? [{ prefix: spec.route, upstreamPath: `/${spec.name}` }] : [];
  return {
    ...spec,
    typeName: pascal(spec.name),
    serviceConst: `${camel(spec.name)}Service`,
    consumes: topicList(spec.consumes),
    produces: topicList(spec.produces),
    needsJson: inlineJson(needs),
    consumesJson: inlineJson(spec.consumes),
    // A consumer dead-letters what it cannot apply to <topic>.dlq: those topics are its to create.
    producesJson: inlineJson([...spec.produces, ...spec.consumes.map((topic) => `${topic}.dlq`)]),
    routesJson: inlineJson(routes),
    kafka,
    extraConfig: kafka || spec.postgres,
    consumer,
    producer,
    route: spec.route !== undefined,
    consumerPg: consumer && spec.postgres,
    consumerMem: consumer && !spec.postgres,
    producerPg: producer && spec.postgres,
    producerMem: producer && !spec.postgres,
    memCounts: kafka && !spec.postgres,
  };
}

/** Renders every template; one that renders to whitespace only is left out (e.g. the migration without --postgres). */
export function renderTemplates(templates: Template[], spec: ServiceSpec): RenderedFile[] {
  const view = templateView(spec);
  const files: RenderedFile[] = [];
  for (const template of templates) {
    const contents = Mustache.render(template.source, view, {}, { escape: (value: unknown) => String(value) });
    if (contents.trim() === '') continue;
    files.push({ path: template.path, contents: contents.endsWith('\n') ? contents : `${contents}\n` });
  }
  return files;
}

/** A short description for the manifest, from what the service does. */
export function describeService(spec: Pick<ServiceSpec, 'consumes' | 'produces' | 'postgres'>): string {
  const parts = [
    ...(spec.consumes.length ? [`consumes ${spec.consumes.join(', ')}`] : []),
    ...(spec.produces.length ? [`produces ${spec.produces.join(', ')}`] : []),
    ...(spec.postgres ? ['stores in PostgreSQL'] : []),
  ];
  const text = parts.length ? parts.join('; ') : 'a service on the msctl kit';
  return text.charAt(0).toUpperCase() + text.slice(1);
}
