/**
 * Reading the gateway's OpenAPI document in tests: which operation a request is, and whether
 * an answer is one the document promises (a documented status; a JSON body that matches the
 * documented schema; every error {error, message, details?}).
 */
import { Ajv2020 } from 'ajv/dist/2020';
import type { ValidateFunction } from 'ajv';
import type { OpenApiDocument, OpenApiOperation } from '../../services/gateway/src/openapi';

export interface DocumentedOperation {
  method: string;
  /** The templated path: /api/users/{id}. */
  path: string;
  operation: OpenApiOperation;
}

export function operationsOf(document: OpenApiDocument): DocumentedOperation[] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => ({ method: method.toUpperCase(), path, operation })),
  );
}

type Json = Record<string, unknown>;

/** Follows local $refs ("#/components/…") inside the document. */
export function resolve<T = Json>(document: OpenApiDocument, value: unknown): T {
  let current = value as Json;
  while (current && typeof current.$ref === 'string') {
    const pointer = (current.$ref as string).replace(/^#\//, '').split('/');
    current = pointer.reduce<Json>((node, key) => node[key] as Json, document);
  }
  return current as T;
}

export interface Answer {
  status: number;
  contentType: string | null;
  retryAfter: string | null;
  text: string;
}

export class ResponseChecker {
  private readonly ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: false });
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(private readonly document: OpenApiDocument) {
    this.ajv.addSchema(document as object, 'openapi');
  }

  private validator(schema: Json): ValidateFunction {
    const key = JSON.stringify(schema);
    let validate = this.validators.get(key);
    if (!validate) {
      // Refs inside the schema point into the document ("#/components/…"): rebase them on it.
      const rebased = JSON.parse(key.replaceAll('"#/components/', '"openapi#/components/')) as Json;
      validate = this.ajv.compile(rebased);
      this.validators.set(key, validate);
    }
    return validate;
  }

  /** Why `answer` is not what the document promises for `operation`; [] when it is. */
  problems(operation: DocumentedOperation, answer: Answer): string[] {
    const where = `${operation.method} ${operation.path} → ${answer.status}`;
    const documented = operation.operation.responses[String(answer.status)];
    if (!documented) return [`${where}: status not documented (body ${answer.text.slice(0, 200)})`];
    const response = resolve<{ content?: Record<string, { schema: Json }>; headers?: Record<string, unknown> }>(this.document, documented);
    const problems: string[] = [];
    if (response.headers?.['Retry-After'] && !/^\d+$/.test(answer.retryAfter ?? '')) problems.push(`${where}: no Retry-After`);
    const schema = response.content?.['application/json']?.schema;
    if (!schema) {
      if (answer.text !== '') problems.push(`${where}: documented without a body, answered ${answer.text.slice(0, 200)}`);
      return problems;
    }
    if (!answer.contentType?.startsWith('application/json')) problems.push(`${where}: content-type ${answer.contentType}, not JSON`);
    let body: unknown;
    try {
      body = JSON.parse(answer.text);
    } catch {
      return [...problems, `${where}: body is not JSON: ${answer.text.slice(0, 200)}`];
    }
    const validate = this.validator(schema);
    if (!validate(body)) problems.push(`${where}: body does not match the document: ${this.ajv.errorsText(validate.errors)} in ${answer.text.slice(0, 300)}`);
    return problems;
  }
}

/** The documented operation that `method` + concrete `path` is, if any. */
export function findOperation(operations: DocumentedOperation[], method: string, path: string): DocumentedOperation | undefined {
  const bare = path.split('?')[0]!;
  const exact = operations.find((op) => op.method === method && op.path === bare);
  if (exact) return exact;
  return operations.find((op) => {
    if (op.method !== method) return false;
    const pattern = new RegExp(`^${op.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`);
    return pattern.test(bare);
  });
}

export async function answerOf(response: Response): Promise<Answer> {
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    retryAfter: response.headers.get('retry-after'),
    text: await response.text(),
  };
}
