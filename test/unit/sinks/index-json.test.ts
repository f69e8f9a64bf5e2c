import { describe, expect, it } from 'vitest';
import type { Descriptor } from '../../../src/oci/descriptor.js';
import { computeDigest, type Digest } from '../../../src/oci/digest.js';
import { MediaType } from '../../../src/oci/media-types.js';
import { parseReference } from '../../../src/reference/parse.js';
import {
  addIndexEntry,
  blobPath,
  decodeIndex,
  encodeIndex,
  isSupportedLayoutMarker,
  OCI_LAYOUT_BYTES,
  refNameFor,
  verifyRawManifest,
} from '../../../src/sinks/index-json.js';

const NAME = 'io.containerd.image.name';
const REF = 'org.opencontainers.image.ref.name';
const d = (s: string): Digest => computeDigest(Buffer.from(s));
const entry = (content: string, refName?: string, imageName?: string, extra: Record<string, string> = {}): Descriptor => ({
  mediaType: MediaType.OciManifest,
  digest: d(content),
  size: content.length,
  annotations: { ...extra, ...(imageName ? { [NAME]: imageName } : {}), ...(refName ? { [REF]: refName } : {}) },
});

describe('refNameFor', () => {
  it.each([
    ['alpine', 'latest'],
    ['alpine:3.20', '3.20'],
    ['127.0.0.1:5000/team/app:v1', 'v1'],
    [`ghcr.io/org/app@${d('x')}`, 'ghcr.io/org/app'],
    [`alpine:3.20@${d('x')}`, '3.20'],
  ])('%s → %s', (ref, expected) => {
    expect(refNameFor(parseReference(ref))).toBe(expected);
  });
});

describe('blobPath', () => {
  it('is blobs/<alg>/<hex>', () => {
    expect(blobPath(d('a'))).toBe(`blobs/sha256/${d('a').slice(7)}`);
  });
});

describe('addIndexEntry', () => {
  it('appends an entry with new names', () => {
    const a = entry('a', '1', 'x:1');
    const b = entry('b', '2', 'x:2');
    expect(addIndexEntry([a], b)).toEqual([a, b]);
  });

  it('replaces an entry with the same digest and names (no duplicates)', () => {
    const a = entry('a', '1', 'x:1');
    expect(addIndexEntry([a], entry('a', '1', 'x:1'))).toEqual([a]);
  });

  it('strips the names (only) from an older entry with the same names and other content, as skopeo does', () => {
    const old = entry('a', '1', 'x:1', { keep: 'me' });
    const next = entry('b', '1', 'x:1');
    expect(addIndexEntry([old], next)).toEqual([{ mediaType: old.mediaType, digest: old.digest, size: old.size, annotations: { keep: 'me' } }, next]);
  });

  it("strips an other tool's entry that has the same ref.name and no image name", () => {
    const old = entry('a', '1');
    const next = entry('b', '1', 'x:1');
    expect(addIndexEntry([old], next)).toEqual([{ mediaType: old.mediaType, digest: old.digest, size: old.size }, next]);
  });

  it('keeps both names when the tag matches but the full image names differ', () => {
    const a = entry('a', 'latest', 'docker.io/library/alpine:latest');
    const b = entry('b', 'latest', 'docker.io/library/busybox:latest');
    expect(addIndexEntry([a], b)).toEqual([a, b]);
  });
});

describe('index.json and oci-layout', () => {
  it('round-trips descriptors, keeping unknown fields', () => {
    const weird = { ...entry('a', '1'), mediaType: 'application/x-unknown', 'x-extra': 1 } as Descriptor;
    const bytes = encodeIndex([weird]);
    expect(JSON.parse(Buffer.from(bytes).toString())).toMatchObject({ schemaVersion: 2, mediaType: MediaType.OciIndex });
    expect(decodeIndex(bytes, 'index.json')).toEqual([weird]);
  });

  it('reads an index without manifests as empty and rejects broken JSON', () => {
    expect(decodeIndex(Buffer.from('{"schemaVersion":2}'), 'index.json')).toEqual([]);
    expect(() => decodeIndex(Buffer.from('{'), 'index.json')).toThrow(/not valid JSON/);
    expect(() => decodeIndex(Buffer.from('{"manifests":[{"digest":"nope"}]}'), 'index.json')).toThrow(/mediaType|digest/);
  });

  it('accepts only imageLayoutVersion 1.0.0', () => {
    expect(isSupportedLayoutMarker(OCI_LAYOUT_BYTES)).toBe(true);
    expect(isSupportedLayoutMarker(Buffer.from('{"imageLayoutVersion":"2.0.0"}'))).toBe(false);
    expect(isSupportedLayoutMarker(Buffer.from('garbage'))).toBe(false);
  });

  it('verifies manifest bytes against their descriptor', () => {
    const bytes = Buffer.from('{"schemaVersion":2}');
    const descriptor = { mediaType: MediaType.OciManifest, digest: computeDigest(bytes), size: bytes.length };
    expect(() => verifyRawManifest({ descriptor, bytes })).not.toThrow();
    expect(() => verifyRawManifest({ descriptor, bytes: Buffer.from('{"schemaVersion":3}') })).toThrow(/do not match/);
  });
});
