// The configuration grammars: the TOML subset, registries.conf, hosts.toml, --mirror, and the endpoint plan.
import { describe, expect, it } from 'vitest';
import { createEndpointPlanner, parseMirrorFlag } from '../../../src/config/endpoints.js';
import { parseHostsToml } from '../../../src/config/hosts-toml.js';
import { matchRegistryRule, parseRegistriesConf } from '../../../src/config/registries-conf.js';
import { parseToml } from '../../../src/config/toml.js';
import { UsageError } from '../../../src/errors.js';
import { createTlsResolver } from '../../../src/registry/tls.js';

describe('parseToml', () => {
  it('reads tables, arrays of tables, quoted and dotted keys, strings, booleans, integers and multi-line arrays', () => {
    const doc = parseToml(
      [
        '# comment',
        'server = "https://registry-1.docker.io" # trailing',
        'a.b = 1_000',
        '[host."https://mirror.example:5000"]',
        "  capabilities = ['pull',",
        '    "resolve"]',
        '  skip_verify = true',
        '  client = [["c.pem", "k.pem"]]',
        '[[registry]]',
        'prefix = "docker.io"',
        '[[registry.mirror]]',
        'location = "m1\\u0041"',
        '[[registry]]',
        'prefix = "quay.io"',
      ].join('\n'),
      't.toml',
    );
    expect(doc).toEqual({
      server: 'https://registry-1.docker.io',
      a: { b: 1000 },
      host: { 'https://mirror.example:5000': { capabilities: ['pull', 'resolve'], skip_verify: true, client: [['c.pem', 'k.pem']] } },
      registry: [{ prefix: 'docker.io', mirror: [{ location: 'm1A' }] }, { prefix: 'quay.io' }],
    });
  });

  it.each([
    ['x = 1.5', 'unsupported value'],
    ['x = {a = 1}', 'unsupported value'],
    ['x = """a"""', 'multi-line'],
    ['x = 1\nx = 2', 'duplicate key'],
    ['x = "open', 'unterminated'],
  ])('refuses %j with the line number', (text, message) => {
    expect(() => parseToml(text, 'f.toml')).toThrow(UsageError);
    expect(() => parseToml(text, 'f.toml')).toThrow(new RegExp(`f\\.toml:\\d+: .*${message}`));
  });
});

describe('registries.conf', () => {
  const conf = parseRegistriesConf(
    [
      '[[registry]]',
      'prefix = "docker.io"',
      'location = "docker.io"',
      '[[registry.mirror]]',
      'location = "mirror.lan:5000/hub"',
      'pull-from-mirror = "digest-only"',
      '[[registry]]',
      'prefix = "docker.io/library/alpine"',
      'location = "alpine.lan/alpine"',
      'insecure = true',
      '[[registry]]',
      'prefix = "*.corp.example"',
      'blocked = true',
      '[registries.insecure]',
      'registries = ["old.lan"]',
    ].join('\n'),
    'r.conf',
  );

  it('picks the longest matching prefix, wildcards and v1 insecure lists', () => {
    expect(matchRegistryRule(conf, 'docker.io/library/alpine')?.location).toBe('alpine.lan/alpine');
    expect(matchRegistryRule(conf, 'docker.io/library/alpinex')?.prefix).toBe('docker.io');
    expect(matchRegistryRule(conf, 'registry.corp.example/x')?.blocked).toBe(true);
    expect(matchRegistryRule(conf, 'old.lan/x')?.insecure).toBe(true);
    expect(matchRegistryRule(conf, 'ghcr.io/x')).toBeUndefined();
    expect(conf.rules[0]!.mirrors).toEqual([{ location: 'mirror.lan:5000/hub', insecure: false, pullFromMirror: 'digest-only' }]);
  });

  it('plans mirrors under their namespace, digest-only as configured, the upstream last', async () => {
    const planner = createEndpointPlanner({ registriesConf: conf, insecure: () => false, mirrors: [parseMirrorFlag('first.lan')] }, createTlsResolver({ certsDirs: [] }));
    const plan = await planner.plan('registry-1.docker.io')('library/redis');
    expect(plan.map((e) => [e.host, e.repository, e.serves, e.mirror])).toEqual([
      ['first.lan', 'library/redis', 'all', true],
      ['mirror.lan:5000', 'hub/library/redis', 'digest-only', true],
      ['registry-1.docker.io', 'library/redis', 'all', false],
    ]);
    const relocated = await planner.plan('registry-1.docker.io')('library/alpine');
    expect(relocated.at(-1)).toMatchObject({ host: 'alpine.lan', repository: 'alpine', insecure: true, mirror: false });
    expect(planner.insecure('alpine.lan')).toBe(true);
    await expect(planner.plan('registry.corp.example')('x')).rejects.toThrow(/blocked/);
  });
});

describe('hosts.toml', () => {
  it('reads server, hosts in file order, capabilities and paths relative to the file', () => {
    const conf = parseHostsToml(
      ['server = "https://registry-1.docker.io"', '[host."https://a.lan"]', 'capabilities = ["pull"]', 'ca = "ca.crt"', 'client = [["c.cert", "/abs/c.key"]]', '[host."http://b.lan:5000"]'].join('\n'),
      '/etc/containerd/certs.d/docker.io/hosts.toml',
    );
    expect(conf.server?.origin).toBe('https://registry-1.docker.io');
    expect(conf.hosts.map((h) => [h.origin, h.capabilities])).toEqual([
      ['https://a.lan', ['pull']],
      ['http://b.lan:5000', ['pull', 'resolve']],
    ]);
    expect(conf.hosts[0]!.ca).toEqual(['/etc/containerd/certs.d/docker.io/ca.crt']);
    expect(conf.hosts[0]!.client).toEqual([['/etc/containerd/certs.d/docker.io/c.cert', '/abs/c.key']]);
  });

  it('refuses path prefixes rather than misreading them', () => {
    expect(() => parseHostsToml('[host."https://a.lan/v2/mirror"]\n', 'h.toml')).toThrow(/path prefixes/);
  });
});

describe('--mirror', () => {
  it.each([
    ['mirror.lan:5000', { registry: 'docker.io', location: 'mirror.lan:5000' }],
    ['ghcr.io=https://m.lan/ghcr/', { registry: 'ghcr.io', location: 'https://m.lan/ghcr' }],
    ['index.docker.io=m.lan', { registry: 'docker.io', location: 'm.lan' }],
  ])('parses %s', (text, expected) => {
    expect(parseMirrorFlag(text)).toEqual(expected);
  });

  it('refuses an empty mirror', () => {
    expect(() => parseMirrorFlag('ghcr.io=')).toThrow(UsageError);
  });
});
