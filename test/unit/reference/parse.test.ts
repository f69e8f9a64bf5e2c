import { describe, expect, it } from 'vitest';
import { ExitCode, UsageError } from '../../../src/errors.js';
import { familiarString, parseReference } from '../../../src/reference/parse.js';

const SHA256 = `sha256:${'ab'.repeat(32)}`;
const SHA512 = `sha512:${'cd'.repeat(64)}`;

interface Valid {
  input: string;
  domain: string;
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
  canonical: string;
}

const valid: Valid[] = [
  { input: 'alpine', domain: 'docker.io', registry: 'registry-1.docker.io', repository: 'library/alpine', tag: 'latest', canonical: 'docker.io/library/alpine:latest' },
  { input: 'alpine:3.20', domain: 'docker.io', registry: 'registry-1.docker.io', repository: 'library/alpine', tag: '3.20', canonical: 'docker.io/library/alpine:3.20' },
  { input: 'ubuntu:22.04', domain: 'docker.io', registry: 'registry-1.docker.io', repository: 'library/ubuntu', tag: '22.04', canonical: 'docker.io/library/ubuntu:22.04' },
  { input: 'library/alpine', domain: 'docker.io', registry: 'registry-1.docker.io', repository: 'library/alpine', tag: 'latest', canonical: 'docker.io/library/alpine:latest' },
  { input: 'foo/bar', domain: 'docker.io', registry: 'registry-1.docker.io', repository: 'foo/bar', tag: 'latest', canonical: 'docker.io/foo/bar:latest' },
  { input: 'foo/bar/baz:v1', domain: 'docker.io', registry: 'registry-1.docker.io', repository: 'foo/bar/baz', tag: 'v1', canonical: 'docker.io/foo/bar/baz:v1' },
  { input: 'docker.io/ubuntu', domain: 'docker.io', registry: 'registry-1.docker.io', repository: 'library/ubuntu', tag: 'latest', canonical: 'docker.io/library/ubuntu:latest' },
  { input: 'docker.io/library/ubuntu', domain: 'docker.io', registry: 'registry-1.docker.io', repository: 'library/ubuntu', tag: 'latest', canonical: 'docker.io/library/ubuntu:latest' },
  { input: 'docker.io/foo/bar:1', domain: 'docker.io', registry: 'registry-1.docker.io', repository: 'foo/bar', tag: '1', canonical: 'docker.io/foo/bar:1' },
  { input: 'index.docker.io/ubuntu', domain: 'docker.io', registry: 'registry-1.docker.io', repository: 'library/ubuntu', tag: 'latest', canonical: 'docker.io/library/ubuntu:latest' },
  { input: 'index.docker.io/foo/bar', domain: 'docker.io', registry: 'registry-1.docker.io', repository: 'foo/bar', tag: 'latest', canonical: 'docker.io/foo/bar:latest' },
  // Only docker.io and index.docker.io are special: registry-1.docker.io is an ordinary domain.
  { input: 'registry-1.docker.io/ubuntu', domain: 'registry-1.docker.io', registry: 'registry-1.docker.io', repository: 'ubuntu', tag: 'latest', canonical: 'registry-1.docker.io/ubuntu:latest' },
  { input: 'ghcr.io/org/app:1.2.3', domain: 'ghcr.io', registry: 'ghcr.io', repository: 'org/app', tag: '1.2.3', canonical: 'ghcr.io/org/app:1.2.3' },
  { input: 'quay.io/x', domain: 'quay.io', registry: 'quay.io', repository: 'x', tag: 'latest', canonical: 'quay.io/x:latest' },
  { input: 'localhost/foo', domain: 'localhost', registry: 'localhost', repository: 'foo', tag: 'latest', canonical: 'localhost/foo:latest' },
  { input: 'localhost:5000/foo/bar:tag', domain: 'localhost:5000', registry: 'localhost:5000', repository: 'foo/bar', tag: 'tag', canonical: 'localhost:5000/foo/bar:tag' },
  { input: '127.0.0.1:5000/repo', domain: '127.0.0.1:5000', registry: '127.0.0.1:5000', repository: 'repo', tag: 'latest', canonical: '127.0.0.1:5000/repo:latest' },
  { input: 'myhost:5000/repo', domain: 'myhost:5000', registry: 'myhost:5000', repository: 'repo', tag: 'latest', canonical: 'myhost:5000/repo:latest' },
  { input: '[::1]:5000/repo', domain: '[::1]:5000', registry: '[::1]:5000', repository: 'repo', tag: 'latest', canonical: '[::1]:5000/repo:latest' },
  { input: '[2001:db8::1]/repo:v2', domain: '[2001:db8::1]', registry: '[2001:db8::1]', repository: 'repo', tag: 'v2', canonical: '[2001:db8::1]/repo:v2' },
  // No '/' at all: the colon introduces a tag, even when it looks like a port (ref: normalize.go FIXME).
  { input: 'foo:5000', domain: 'docker.io', registry: 'registry-1.docker.io', repository: 'library/foo', tag: '5000', canonical: 'docker.io/library/foo:5000' },
  { input: 'localhost', domain: 'docker.io', registry: 'registry-1.docker.io', repository: 'library/localhost', tag: 'latest', canonical: 'docker.io/library/localhost:latest' },
  // An uppercase first component is a domain (ref: splitDockerDomain), so this is valid.
  { input: 'Docker/docker', domain: 'Docker', registry: 'Docker', repository: 'docker', tag: 'latest', canonical: 'Docker/docker:latest' },
  { input: 'example.com/a.b/c__d/e-f/g---h_i', domain: 'example.com', registry: 'example.com', repository: 'a.b/c__d/e-f/g---h_i', tag: 'latest', canonical: 'example.com/a.b/c__d/e-f/g---h_i:latest' },
  { input: 'alpine:UPPER_case-tag.1', domain: 'docker.io', registry: 'registry-1.docker.io', repository: 'library/alpine', tag: 'UPPER_case-tag.1', canonical: 'docker.io/library/alpine:UPPER_case-tag.1' },
  { input: 'alpine:_x', domain: 'docker.io', registry: 'registry-1.docker.io', repository: 'library/alpine', tag: '_x', canonical: 'docker.io/library/alpine:_x' },
  { input: `alpine:${'t'.repeat(128)}`, domain: 'docker.io', registry: 'registry-1.docker.io', repository: 'library/alpine', tag: 't'.repeat(128), canonical: `docker.io/library/alpine:${'t'.repeat(128)}` },
  { input: `alpine@${SHA256}`, domain: 'docker.io', registry: 'registry-1.docker.io', repository: 'library/alpine', digest: SHA256, canonical: `docker.io/library/alpine@${SHA256}` },
  { input: `alpine:3.20@${SHA256}`, domain: 'docker.io', registry: 'registry-1.docker.io', repository: 'library/alpine', tag: '3.20', digest: SHA256, canonical: `docker.io/library/alpine:3.20@${SHA256}` },
  { input: `ghcr.io/o/r@${SHA512}`, domain: 'ghcr.io', registry: 'ghcr.io', repository: 'o/r', digest: SHA512, canonical: `ghcr.io/o/r@${SHA512}` },
  { input: `localhost:5000/r:t@${SHA256}`, domain: 'localhost:5000', registry: 'localhost:5000', repository: 'r', tag: 't', digest: SHA256, canonical: `localhost:5000/r:t@${SHA256}` },
  { input: `[::1]:5000/r@${SHA256}`, domain: '[::1]:5000', registry: '[::1]:5000', repository: 'r', digest: SHA256, canonical: `[::1]:5000/r@${SHA256}` },
  { input: `example.com/${'a'.repeat(255)}`, domain: 'example.com', registry: 'example.com', repository: 'a'.repeat(255), tag: 'latest', canonical: `example.com/${'a'.repeat(255)}:latest` },
];

describe('parseReference: valid references normalise exactly', () => {
  it.each(valid)('$input', (c) => {
    const ref = parseReference(c.input);
    expect({ domain: ref.domain, registry: ref.registry, repository: ref.repository, tag: ref.tag, digest: ref.digest }).toEqual({
      domain: c.domain,
      registry: c.registry,
      repository: c.repository,
      tag: c.tag,
      digest: c.digest,
    });
    expect(ref.name).toBe(`${c.domain}/${c.repository}`);
    expect(ref.toString()).toBe(c.canonical);
    expect(String(ref)).toBe(c.canonical);
  });

  it('round-trips: parsing the canonical form gives the same reference', () => {
    for (const c of valid) {
      expect(parseReference(c.canonical).toString()).toBe(c.canonical);
    }
  });

  it('omits tag from the object when the reference is by digest only', () => {
    expect('tag' in parseReference(`alpine@${SHA256}`)).toBe(false);
  });
});

const invalid: Array<{ input: string; rule: RegExp }> = [
  { input: '', rule: /empty/ },
  { input: 'Alpine', rule: /must be lowercase/ },
  { input: 'docker.io/Foo', rule: /"library\/Foo" must be lowercase/ },
  { input: 'ghcr.io/Org/app', rule: /must be lowercase/ },
  { input: 'foo/Bar', rule: /must be lowercase/ },
  { input: 'alpine:', rule: /tag "" must match/ },
  { input: 'alpine:-x', rule: /tag "-x" must match/ },
  { input: 'alpine:.x', rule: /tag ".x" must match/ },
  { input: 'alpine:a+b', rule: /tag "a\+b" must match/ },
  { input: `alpine:${'t'.repeat(129)}`, rule: /129 characters long; tags are at most 128/ },
  { input: `example.com/${'a'.repeat(256)}`, rule: /256 characters long; the limit is 255/ },
  { input: 'a'.repeat(64), rule: /image ID/ },
  { input: 'foo//bar', rule: /"\/"-separated components/ },
  { input: 'foo/bar/', rule: /"\/"-separated components/ },
  { input: '/foo', rule: /"\/"-separated components/ },
  { input: 'foo_-bar', rule: /"\/"-separated components/ },
  { input: 'foo___bar', rule: /"\/"-separated components/ },
  { input: 'foo..bar', rule: /"\/"-separated components/ },
  { input: '-foo', rule: /"\/"-separated components/ },
  { input: 'foo-', rule: /"\/"-separated components/ },
  { input: 'example.com/', rule: /repository name is empty/ },
  { input: `@${SHA256}`, rule: /repository name is empty/ },
  { input: 'alpine@sha256:abc', rule: /not a valid digest/ },
  { input: `alpine@sha256:${'AB'.repeat(32)}`, rule: /not a valid digest/ },
  { input: `alpine@md5:${'ab'.repeat(16)}`, rule: /not a valid digest/ },
  { input: `alpine@${SHA256}@${SHA256}`, rule: /not a valid digest/ },
  { input: '[fe80::1%eth0]:5000/debian', rule: /not a valid registry host/ },
  { input: '[2001:db8:3:4::192.0.2.33]:5000/debian', rule: /not a valid registry host/ },
  { input: '[fc00::1]:5000', rule: /"library\/\[fc00::1\]" must be lowercase letters/ }, // no '/': Hub path plus tag 5000
  { input: 'exa_mple.com/foo', rule: /not a valid registry host/ },
  { input: '-example.com/foo', rule: /not a valid registry host/ },
  { input: 'example.com:port/foo', rule: /not a valid registry host/ },
  { input: 'foo bar', rule: /"\/"-separated components/ },
];

describe('parseReference: invalid references are UsageErrors naming the input and the rule', () => {
  it.each(invalid)('$input', ({ input, rule }) => {
    let caught: unknown;
    try {
      parseReference(input);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UsageError);
    const err = caught as UsageError;
    expect(err.exitCode).toBe(ExitCode.Usage);
    expect(err.message).toContain(`invalid reference "${input}"`);
    expect(err.message).toMatch(rule);
    expect(err.message).not.toContain('\n');
    expect(err.hint).toMatch(/repository\[:tag\]/);
  });
});

describe('familiarString', () => {
  it.each([
    ['alpine', 'alpine:latest'],
    ['docker.io/foo/bar:1', 'foo/bar:1'],
    [`alpine:3@${SHA256}`, `alpine:3@${SHA256}`],
    ['ghcr.io/library/x:1', 'ghcr.io/library/x:1'],
    ['localhost:5000/r', 'localhost:5000/r:latest'],
  ])('%s → %s', (input, familiar) => {
    expect(familiarString(parseReference(input))).toBe(familiar);
  });
});
