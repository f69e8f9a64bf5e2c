/**
 * dray's public library API: everything the CLI does, with options and an event callback instead of
 * flags and terminals. Anything not exported here is free to change.
 */
export { pull } from './pull.js';
export type { PullOptions, PullOutput, PullResult, ImageResult } from './pull.js';
export { resolve } from './resolve.js';
export type { ResolveOptions, ResolveResult } from './resolve.js';
export { parseReference } from './reference/parse.js';
export type { ImageRef } from './reference/types.js';
export { openBlobStore } from './cache/fs-store.js';
export type { BlobStore, BlobInfo } from './cache/types.js';
export type { ResolvedImage } from './image/types.js';
export { EVENTS_SCHEMA_VERSION } from './events/types.js';
export type { PullEvent, ErrorSummary } from './events/types.js';
export {
  ExitCode,
  PullError,
  UsageError,
  RegistryError,
  NotFoundError,
  AuthError,
  RateLimitedError,
  NetworkError,
  IntegrityError,
  UnsafeArchiveError,
  PlatformNotFoundError,
  LocalIOError,
  DiskFullError,
  AbortedError,
  isRetryable,
  toExitCode,
} from './errors.js';
export { VERSION } from './version.js';
