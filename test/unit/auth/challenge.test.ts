import { describe, expect, it } from 'vitest';
import { parseChallenges, selectChallenge, splitScopes } from '../../../src/auth/challenge.js';

const cases: { name: string; header: string; want: { scheme: string; params: Record<string, string>; token68?: string }[] }[] = [
  {
    name: 'Docker Hub bearer with realm and service',
    header: 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io"',
    want: [{ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io' } }],
  },
  {
    name: 'bearer with a repository scope',
    header: 'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:user/img:pull"',
    want: [{ scheme: 'bearer', params: { realm: 'https://ghcr.io/token', service: 'ghcr.io', scope: 'repository:user/img:pull' } }],
  },
  {
    name: 'scope with several actions keeps its comma inside the quotes',
    header: 'Bearer realm="https://a/token",scope="repository:samalba/my-app:pull,push"',
    want: [{ scheme: 'bearer', params: { realm: 'https://a/token', scope: 'repository:samalba/my-app:pull,push' } }],
  },
  {
    name: 'several scopes separated by a space',
    header: 'Bearer realm="https://a/token",scope="repository:a/b:pull repository:c/d:pull,push"',
    want: [{ scheme: 'bearer', params: { realm: 'https://a/token', scope: 'repository:a/b:pull repository:c/d:pull,push' } }],
  },
  {
    name: 'escaped quotes and backslashes in a quoted value',
    header: 'Bearer realm="https://a/token",error_description="the \\"token\\" is bad \\\\ now"',
    want: [{ scheme: 'bearer', params: { realm: 'https://a/token', error_description: 'the "token" is bad \\ now' } }],
  },
  {
    name: 'Basic challenge',
    header: 'Basic realm="Registry Realm"',
    want: [{ scheme: 'basic', params: { realm: 'Registry Realm' } }],
  },
  {
    name: 'ECR Basic challenge with service',
    header: 'Basic realm="https://1.dkr.ecr.eu-west-1.amazonaws.com/",service="ecr.amazonaws.com"',
    want: [{ scheme: 'basic', params: { realm: 'https://1.dkr.ecr.eu-west-1.amazonaws.com/', service: 'ecr.amazonaws.com' } }],
  },
  {
    name: 'two challenges in one header',
    header: 'Basic realm="r1", Bearer realm="https://a/token",service="s"',
    want: [
      { scheme: 'basic', params: { realm: 'r1' } },
      { scheme: 'bearer', params: { realm: 'https://a/token', service: 's' } },
    ],
  },
  {
    name: 'scheme and parameter names are case-insensitive',
    header: 'BEARER Realm="https://a/token",SERVICE="s"',
    want: [{ scheme: 'bearer', params: { realm: 'https://a/token', service: 's' } }],
  },
  {
    name: 'unquoted token values',
    header: 'Bearer realm=https://a/token,service=registry.example.com',
    want: [{ scheme: 'bearer', params: { realm: 'https://a/token', service: 'registry.example.com' } }],
  },
  {
    name: 'whitespace around = and commas',
    header: 'Bearer  realm = "https://a/token" ,  service = "s"',
    want: [{ scheme: 'bearer', params: { realm: 'https://a/token', service: 's' } }],
  },
  {
    name: 'error and insufficient_scope from RFC 6750',
    header: 'Bearer realm="https://a/token",error="insufficient_scope",scope="repository:x:pull"',
    want: [{ scheme: 'bearer', params: { realm: 'https://a/token', error: 'insufficient_scope', scope: 'repository:x:pull' } }],
  },
  {
    name: 'scheme without parameters',
    header: 'Basic',
    want: [{ scheme: 'basic', params: {} }],
  },
  {
    name: 'token68 challenge followed by a Basic one',
    header: 'Negotiate abc123==, Basic realm="x"',
    want: [
      { scheme: 'negotiate', params: {}, token68: 'abc123==' },
      { scheme: 'basic', params: { realm: 'x' } },
    ],
  },
  {
    name: 'empty header',
    header: '',
    want: [],
  },
  {
    name: 'unterminated quoted value keeps what arrived',
    header: 'Bearer realm="https://a/tok',
    want: [{ scheme: 'bearer', params: { realm: 'https://a/tok' } }],
  },
  {
    name: 'repeated header fields joined with ", "',
    header: 'Bearer realm="https://a/token", Basic realm="b"',
    want: [
      { scheme: 'bearer', params: { realm: 'https://a/token' } },
      { scheme: 'basic', params: { realm: 'b' } },
    ],
  },
  {
    name: 'realm URL with a query string and a comma',
    header: 'Bearer realm="https://a/token?x=1,2",service="s"',
    want: [{ scheme: 'bearer', params: { realm: 'https://a/token?x=1,2', service: 's' } }],
  },
];

describe('parseChallenges', () => {
  it.each(cases)('$name', ({ header, want }) => {
    expect(parseChallenges(header)).toEqual(want);
  });
});

describe('selectChallenge', () => {
  it('prefers Bearer over Basic whatever the order', () => {
    expect(selectChallenge(parseChallenges('Basic realm="b", Bearer realm="t"'))?.scheme).toBe('bearer');
  });
  it('takes Basic when it is the only supported scheme', () => {
    expect(selectChallenge(parseChallenges('Negotiate x, Basic realm="b"'))?.scheme).toBe('basic');
  });
  it('returns undefined for unsupported schemes only', () => {
    expect(selectChallenge(parseChallenges('Digest realm="d", Negotiate'))).toBeUndefined();
  });
});

describe('splitScopes', () => {
  it('splits on spaces and keeps host:port names whole', () => {
    expect(splitScopes('repository:a/b:pull  repository:localhost:5000/c:pull,push')).toEqual(['repository:a/b:pull', 'repository:localhost:5000/c:pull,push']);
  });
});
