// The launcher puts back the NODE_EXTRA_CA_CERTS that bin/dray.js's shell line moved aside.
import { describe, expect, it } from 'vitest';
import { MOVED_EXTRA_CA_CERTS, restoreExtraCaCerts } from '../../../src/cli/launch.js';

describe('restoreExtraCaCerts', () => {
  it('moves the variable back under its own name, for dray and the programs it starts', () => {
    const env: Record<string, string | undefined> = { [MOVED_EXTRA_CA_CERTS]: '/etc/corp-ca.pem', PATH: '/bin' };
    restoreExtraCaCerts(env);
    expect(env).toEqual({ NODE_EXTRA_CA_CERTS: '/etc/corp-ca.pem', PATH: '/bin' });
  });

  it('leaves an environment the shell line did not touch alone', () => {
    const env: Record<string, string | undefined> = { NODE_EXTRA_CA_CERTS: '/a.pem' };
    restoreExtraCaCerts(env);
    expect(env).toEqual({ NODE_EXTRA_CA_CERTS: '/a.pem' });
  });
});
