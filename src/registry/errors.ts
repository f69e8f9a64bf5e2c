/**
 * Maps a registry's error response to the typed errors of src/errors.ts (distribution-spec "Error Codes",
 * ecosystem.md §2.6). Error bodies are read with a cap and the rest of the body is dropped.
 */
import {
  AuthError,
  NotFoundError,
  RateLimitedError,
  RegistryError,
  ServerError,
  type PullErrorOptions,
  type RegistryDiagnostic,
} from '../errors.js';
import { destroyBody, readCapped } from './read-body.js';
import type { HttpResponse } from './types.js';

/** Error bodies are read up to 64 KiB (ggcr transport/error.go); anything past that is diagnostics noise. */
const DEFAULT_ERROR_BODY_LIMIT = 64 * 1024;

/** Distribution-spec codes that mean "the thing asked for does not exist", whatever the status. */
const NOT_FOUND_CODES = new Set(['NAME_UNKNOWN', 'MANIFEST_UNKNOWN', 'BLOB_UNKNOWN']);

/** Longest plain-text body kept as a diagnostic (Docker Hub's rate-limit body is plain text). */
const MAX_TEXT_DIAGNOSTIC = 200;

export interface ToRegistryErrorOptions extends PullErrorOptions {
  /** Wall-clock milliseconds for an HTTP-date Retry-After; Date.now() when absent. */
  readonly nowMs?: number;
}

/**
 * Reads the error body (capped, then destroyed) and returns the typed error: 401/403 → AuthError,
 * 404 or a *_UNKNOWN code → NotFoundError, 429 → RateLimitedError, 408/5xx → ServerError, else RegistryError.
 */
export async function toRegistryError(
  request: { readonly method: string; readonly url: URL | string },
  response: HttpResponse,
  options: ToRegistryErrorOptions = {},
): Promise<RegistryError> {
  const diagnostics = await readDiagnostics(response);
  const req = { method: request.method, url: String(request.url) };
  const { status } = response;
  const errOptions: PullErrorOptions = { ...(options.cause === undefined ? {} : { cause: options.cause }), ...(options.hint === undefined ? {} : { hint: options.hint }) };
  if (status === 401 || status === 403) return new AuthError(req, status, diagnostics, errOptions);
  if (status === 404 || diagnostics.some((d) => NOT_FOUND_CODES.has(d.code))) {
    return new NotFoundError(req, status, diagnostics, errOptions);
  }
  const retryAfter = parseRetryAfter(response.headers['retry-after'], options.nowMs ?? Date.now());
  if (status === 429) return new RateLimitedError(req, status, diagnostics, retryAfter, errOptions);
  if (status === 408 || status >= 500) return new ServerError(req, status, diagnostics, retryAfter, errOptions);
  return new RegistryError(req, status, diagnostics, errOptions);
}

/**
 * Returns the delay a Retry-After value asks for, in ms: delta-seconds or an HTTP-date (RFC 9110 §10.2.3).
 * A date in the past gives 0; an unparsable or absent value gives undefined.
 */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/[a-z]/i.test(text)) return undefined; // "-5", "1.5": neither form
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/** Parses an error body: the spec's `{"errors":[…]}`, a bare `{"message"}` (Docker Hub), or short plain text. */
export function parseErrorBody(text: string): RegistryDiagnostic[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  try {
    const json = JSON.parse(trimmed) as unknown;
    if (json !== null && typeof json === 'object') {
      const errors = (json as { errors?: unknown }).errors;
      if (Array.isArray(errors)) return errors.flatMap(toDiagnostic);
      const message = (json as { message?: unknown }).message;
      if (typeof message === 'string') return [{ code: 'UNKNOWN', message }];
    }
  } catch {
    // not JSON: bodies of 4xx MAY be any format (distribution-spec "Error Codes")
  }
  const firstLine = trimmed.split('\n', 1)[0] ?? '';
  return [{ code: 'UNKNOWN', message: firstLine.slice(0, MAX_TEXT_DIAGNOSTIC) }];
}

function toDiagnostic(entry: unknown): RegistryDiagnostic[] {
  if (entry === null || typeof entry !== 'object') return [];
  const { code, message } = entry as { code?: unknown; message?: unknown };
  if (typeof code !== 'string') return [];
  return [{ code, message: typeof message === 'string' ? message : '' }];
}

async function readDiagnostics(response: HttpResponse): Promise<RegistryDiagnostic[]> {
  try {
    const bytes = await readCapped(response.body, DEFAULT_ERROR_BODY_LIMIT, () => new Error('error body too large'));
    return parseErrorBody(bytes.toString('utf8'));
  } catch {
    destroyBody(response.body);
    return []; // a truncated or oversized error body still leaves the status to classify by
  }
}
