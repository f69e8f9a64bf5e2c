/**
 * Fault switches of the fake registry (DESIGN.md §7): the misbehaviours real registries and blob
 * stores show, each observable on the wire. Counters live per fault object, so assigning a new
 * `faults` value at runtime starts counting afresh.
 */

/** A fault on blob bodies: applies to the first `times` matching blob GETs (every one when absent). */
export interface BodyFault {
  /** Bytes of this response's body written before the fault (counted from the body start, not the blob's). */
  readonly bytes: number;
  readonly times?: number;
  /** Only bodies of this digest. */
  readonly digest?: string;
}

/** Answer `status` to the `nth` (1-based, default 1) through `nth + times - 1` requests matching. */
export interface StatusFault {
  readonly status: number;
  /** Tested against the path (with query); every request when absent. */
  readonly path?: RegExp;
  readonly method?: string;
  readonly nth?: number;
  /** How many consecutive matching requests get the fault (default 1; Infinity for all). */
  readonly times?: number;
  /** Seconds, an HTTP-date (from a Date) or a raw header value. */
  readonly retryAfter?: number | Date | string;
  readonly body?: string;
  /** Extra response headers, e.g. Docker Hub's `ratelimit-limit: 100;w=21600`. */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface FakeRegistryFaults {
  /** Ranged blob GETs get 200 and the whole body, as servers without Range support answer. */
  readonly ignoreRange?: boolean;
  /** Ranged blob GETs get 206 with a Content-Range starting one byte after the requested start. */
  readonly wrongContentRange?: boolean;
  /** Close the connection after writing `bytes` of a blob body (Content-Length still promised the rest). */
  readonly resetAfter?: BodyFault;
  /** Send headers and `bytes` of a blob body, then nothing until the client gives up (or close()). */
  readonly stallAfter?: BodyFault;
  /** Error statuses (429/503 with Retry-After, 500, …) for chosen requests. */
  readonly status?: StatusFault | readonly StatusFault[];
  /** Digests (blobs or manifests) whose bodies are served with one byte flipped. */
  readonly corrupt?: readonly string[];
  /** Blob bodies trickle at this rate, in small writes on a timer. */
  readonly bytesPerSecond?: number;
  /** Blob GETs answer 307 to a storage endpoint: on this server, or on a second server (another origin). */
  readonly redirectBlobs?: 'same-origin' | 'cross-origin';
  /** Storage answers 400 to requests carrying Authorization, as S3 presigned URLs do. */
  readonly storageRejectsAuthorization?: boolean;
  /** Leave out Docker-Content-Digest on manifests and blobs (old registries; allowed before spec 1.1). */
  readonly omitDigestHeader?: boolean;
}

/** Counts matches per fault object and says whether this one is faulted. */
export class FaultCounter {
  private readonly counts = new WeakMap<object, number>();

  /** Returns whether the next match of `fault` falls in [first, first + times). */
  hit(fault: object, first: number, times: number): boolean {
    const n = (this.counts.get(fault) ?? 0) + 1;
    this.counts.set(fault, n);
    return n >= first && n < first + times;
  }
}

/** Returns the status fault that applies to this request, counting every matching one. */
export function matchStatusFault(faults: FakeRegistryFaults, counter: FaultCounter, method: string, path: string): StatusFault | undefined {
  if (!faults.status) return undefined;
  const list: readonly StatusFault[] = Array.isArray(faults.status) ? faults.status : [faults.status as StatusFault];
  let found: StatusFault | undefined;
  for (const fault of list) {
    if (fault.method && fault.method.toUpperCase() !== method) continue;
    if (fault.path && !fault.path.test(path)) continue;
    if (counter.hit(fault, fault.nth ?? 1, fault.times ?? 1) && !found) found = fault;
  }
  return found;
}

/** Returns the Retry-After header value for a status fault. */
export function retryAfterValue(value: number | Date | string): string {
  if (value instanceof Date) return value.toUTCString();
  return String(value);
}

/** Returns whether a body fault applies to this blob body (counting it when it matches). */
export function bodyFaultApplies(fault: BodyFault | undefined, counter: FaultCounter, digest: string): fault is BodyFault {
  if (!fault || (fault.digest !== undefined && fault.digest !== digest)) return false;
  return counter.hit(fault, 1, fault.times ?? Infinity);
}

/** Returns `bytes` with one byte flipped (the middle one), leaving the input untouched. */
export function corruptBytes(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(bytes);
  if (copy.byteLength > 0) {
    const i = Math.floor(copy.byteLength / 2);
    copy[i] = copy[i]! ^ 0xff;
  }
  return copy;
}
