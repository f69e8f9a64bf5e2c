// The launcher undoes what bin/dray.js's shell line did to the environment.
import { describe, expect, it } from 'vitest';
import { MOVED_EXTRA_CA_CERTS, restoreEnvironment, SET_GLIBC_TUNABLES } from '../../../src/cli/launch.js';

describe('restoreEnvironment', () => {
  it('moves the variable back under its own name, for dray and the programs it starts', () => {
    const env: Record<string, string | undefined> = { [MOVED_EXTRA_CA_CERTS]: '/etc/corp-ca.pem', PATH: '/bin' };
    restoreEnvironment(env);
    expect(env).toEqual({ NODE_EXTRA_CA_CERTS: '/etc/corp-ca.pem', PATH: '/bin' });
  });

  it('removes the GLIBC_TUNABLES it set for node, and keeps one the user set', () => {
    const ours: Record<string, string | undefined> = { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1', [SET_GLIBC_TUNABLES]: '1', PATH: '/bin' };
    restoreEnvironment(ours);
    expect(ours).toEqual({ PATH: '/bin' });
    const theirs: Record<string, string | undefined> = { GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' };
    restoreEnvironment(theirs);
    expect(theirs).toEqual({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' });
  });

  it('leaves an environment the shell line did not touch alone', () => {
    const env: Record<string, string | undefined> = { NODE_EXTRA_CA_CERTS: '/a.pem' };
    restoreEnvironment(env);
    expect(env).toEqual({ NODE_EXTRA_CA_CERTS: '/a.pem' });
  });
});
