/**
 * Error classes with a stable `code`, an `exitCode` and a `hint`; the one retry classifier; the one
 * exit-code mapper; URL redaction. Messages may change between versions; codes and exit codes may not
 * (docs/exit-codes.md).
 */

/** Process exit codes, documented in docs/exit-codes.md and covered by e2e tests. */
export const ExitCode = {
  Ok: 0,
  Failure: 1, // unexpected: a bug; the only class that prints a stack by default
  Usage: 2, // bad flags, bad reference syntax, conflicting options
  NotFound: 3, // repository/tag/manifest/blob unknown, no manifest for the requested platform
  Auth: 4, // 401/403 after one credential refresh; missing credentials
  Network: 5, // retries exhausted: resets, timeouts, 429, 5xx
  Integrity: 6, // digest/size mismatch, unsafe archive content
  LocalIO: 7, // cache/lock/export filesystem errors (ENOSPC, EACCES, lock compromised)
  Interrupted: 130, // SIGINT
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface PullErrorOptions {
  readonly cause?: unknown;
  readonly hint?: string;
}

/** Base of every error dray raises on purpose. */
export abstract class PullError extends Error {
  abstract readonly code: `ERR_${string}`;
  abstract readonly exitCode: ExitCode;
  readonly hint: string | undefined;

  constructor(message: string, options: PullErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
  }
}

/** A malformed reference, flag or argument. */
export class UsageError extends PullError {
  readonly code = 'ERR_USAGE';
  readonly exitCode = ExitCode.Usage;
}

/** Plain data describing one registry diagnostic (distribution-spec error body). */
export interface RegistryDiagnostic {
  readonly code: string;
  readonly message: string;
}

/** A registry answered with an error status that is not more specifically classified. */
export class RegistryError extends PullError {
  readonly code: `ERR_${string}` = 'ERR_REGISTRY';
  readonly exitCode: ExitCode = ExitCode.Failure;
  readonly status: number;
  readonly request: { readonly method: string; readonly url: string };
  readonly diagnostics: readonly RegistryDiagnostic[];

  constructor(
    request: { readonly method: string; readonly url: string },
    status: number,
    diagnostics: readonly RegistryDiagnostic[] = [],
    options: PullErrorOptions & { readonly message?: string } = {},
  ) {
    super(options.message ?? formatRegistryMessage(request, status, diagnostics), options);
    this.status = status;
    this.request = { method: request.method, url: redactUrl(request.url) };
    this.diagnostics = diagnostics;
  }
}

/** 404 or MANIFEST_UNKNOWN/BLOB_UNKNOWN/NAME_UNKNOWN: the thing asked for does not exist. */
export class NotFoundError extends RegistryError {
  override readonly code = 'ERR_NOT_FOUND';
  override readonly exitCode = ExitCode.NotFound;
}

/** 401/403 after one credential refresh, or credentials refused by the token server. */
export class AuthError extends RegistryError {
  override readonly code = 'ERR_AUTH';
  override readonly exitCode = ExitCode.Auth;
}

/** A credential source failed before any registry was asked: a credential helper that is missing, failed or timed out. */
export class CredentialsError extends PullError {
  readonly code = 'ERR_CREDENTIALS';
  readonly exitCode = ExitCode.Auth;
}

/** A registry answer worth another try, carrying the registry's Retry-After (ms) when it sent one. */
export abstract class RetryLaterError extends RegistryError {
  override readonly exitCode: ExitCode = ExitCode.Network;
  readonly retryAfterMs: number | undefined;
  constructor(
    request: { readonly method: string; readonly url: string },
    status: number,
    diagnostics: readonly RegistryDiagnostic[],
    retryAfterMs: number | undefined,
    options: PullErrorOptions = {},
  ) {
    super(request, status, diagnostics, options);
    this.retryAfterMs = retryAfterMs;
  }
}

/** 429 Too Many Requests. */
export class RateLimitedError extends RetryLaterError {
  override readonly code = 'ERR_RATE_LIMITED';
}

/**
 * A 429 asked for a longer wait than the run allows (--max-wait), or gave no end while the quota is
 * spent: the run stops instead of sleeping. Same code as RateLimitedError, but not retryable.
 */
export class RateLimitStopError extends PullError {
  readonly code = 'ERR_RATE_LIMITED';
  readonly exitCode = ExitCode.Network;
  /** Wall-clock ms when the registry said the limit resets, when it said. */
  readonly resetAtMs: number | undefined;
  constructor(message: string, resetAtMs: number | undefined, options: PullErrorOptions = {}) {
    super(message, options);
    this.resetAtMs = resetAtMs;
  }
}

/** 408 / 5xx: the server failed; worth another try. */
export class ServerError extends RetryLaterError {
  override readonly code = 'ERR_SERVER';
}

/** Connection refused/reset, DNS failure, TLS failure, timeout, truncated body. */
export class NetworkError extends PullError {
  readonly code: `ERR_${string}` = 'ERR_NETWORK';
  readonly exitCode: ExitCode = ExitCode.Network;
}

/** No bytes arrived for the idle timeout; the transfer engine resumes from the byte reached. */
export class StalledError extends NetworkError {
  override readonly code = 'ERR_STALLED';
}

/** A server answered a Range request with the wrong Content-Range. Retryable as a whole-blob stream. */
export class RangeMismatchError extends NetworkError {
  override readonly code = 'ERR_RANGE_MISMATCH';
}

/** Every attempt failed; wraps the last error. */
export class RetriesExhaustedError extends PullError {
  readonly code = 'ERR_RETRIES_EXHAUSTED';
  readonly exitCode = ExitCode.Network;
}

/** Bytes whose digest or size does not match their descriptor. */
export class IntegrityError extends PullError {
  readonly code = 'ERR_INTEGRITY';
  readonly exitCode = ExitCode.Integrity;
}

/** A tar entry that would escape its target directory, or otherwise unsafe content. */
export class UnsafeArchiveError extends PullError {
  readonly code = 'ERR_UNSAFE_ARCHIVE';
  readonly exitCode = ExitCode.Integrity;
}

/** A manifest or index that is not valid JSON or not of a known shape. */
export class InvalidManifestError extends PullError {
  readonly code = 'ERR_INVALID_MANIFEST';
  readonly exitCode = ExitCode.Integrity;
}

/** The image has no manifest for the requested platform; the hint lists the available ones. */
export class PlatformNotFoundError extends PullError {
  readonly code = 'ERR_PLATFORM_NOT_FOUND';
  readonly exitCode = ExitCode.NotFound;
}

/** Cache, lock or export filesystem failure (ENOSPC, EACCES, EROFS, lock compromised). */
export class LocalIOError extends PullError {
  readonly code: `ERR_${string}` = 'ERR_LOCAL_IO';
  readonly exitCode: ExitCode = ExitCode.LocalIO;
}

/** Not enough free space in the cache filesystem. */
export class DiskFullError extends LocalIOError {
  override readonly code = 'ERR_DISK_FULL';
}

/** A per-blob lock was lost (another process took it as stale while we held it). */
export class LockError extends LocalIOError {
  override readonly code = 'ERR_LOCK';
}

/** The run was cancelled (SIGINT, or the caller's AbortSignal). */
export class AbortedError extends PullError {
  readonly code = 'ERR_ABORTED';
  readonly exitCode = ExitCode.Interrupted;
}

const RETRYABLE_NODE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/**
 * Returns whether another attempt may succeed. The one classifier (DESIGN.md §4): resets, timeouts,
 * 408, 429, 5xx are retried; 401/403 (the auth layer already refreshed once), 404, integrity
 * failures within an attempt, disk full and aborts are not.
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof AbortedError || err instanceof LocalIOError) return false;
  if (err instanceof RetryLaterError) return true;
  if (err instanceof NetworkError) return true;
  if (err instanceof PullError) return false;
  const code = errorCode(err);
  if (code !== undefined && RETRYABLE_NODE_CODES.has(code)) return true;
  const cause = (err as { cause?: unknown } | null)?.cause;
  return cause !== undefined && cause !== err && isRetryable(cause);
}

/** Returns the Retry-After delay an error carries, if any. */
export function retryAfterOf(err: unknown): number | undefined {
  if (err instanceof RetryLaterError) return err.retryAfterMs;
  return undefined;
}

/** Maps any thrown value to the process exit code (PullError → its own; anything else → 1). */
export function toExitCode(err: unknown): ExitCode {
  if (err instanceof PullError) return err.exitCode;
  return ExitCode.Failure;
}

/** Maps a filesystem error to a LocalIOError (DiskFullError for ENOSPC/EDQUOT), naming the path. */
export function toLocalIOError(err: unknown, what: string): PullError {
  if (err instanceof PullError) return err;
  const code = errorCode(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new DiskFullError(`no space left while ${what}`, {
      cause: err,
      hint: 'free some space (dray cache prune) or point --cache at a larger filesystem',
    });
  }
  const detail = err instanceof Error ? err.message : String(err);
  return new LocalIOError(`${what}: ${detail}`, { cause: err });
}

/** Returns the `code` property of a Node/undici error, if it has one. */
export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

const SECRET_QUERY_KEYS = /^(x-amz-signature|x-amz-credential|x-amz-security-token|signature|sig|token|access_token|refresh_token|password|se|st|skoid|sktid)$/i;

/** Returns the URL with userinfo removed and token-like query values replaced by `REDACTED`. */
export function redactUrl(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return String(url).replace(/\/\/[^/@\s]*@/, '//');
  }
  parsed.username = '';
  parsed.password = '';
  for (const key of [...parsed.searchParams.keys()]) {
    if (SECRET_QUERY_KEYS.test(key)) parsed.searchParams.set(key, 'REDACTED');
  }
  return parsed.toString();
}

function formatRegistryMessage(
  request: { readonly method: string; readonly url: string },
  status: number,
  diagnostics: readonly RegistryDiagnostic[],
): string {
  const detail = diagnostics.map((d) => (d.message ? `${d.code}: ${d.message}` : d.code)).join('; ');
  const base = `${request.method} ${redactUrl(request.url)} answered ${status}`;
  return detail ? `${base} (${detail})` : base;
}
