import { defineConfig } from 'vitest/config';

// Tiers (DESIGN.md §7): unit = pure, no sockets; component = fake registry on loopback;
// integration = Debian's docker-registry started by the test; e2e = the built CLI as child processes.
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { test: { name: 'component', include: ['test/component/**/*.test.ts'], testTimeout: 30_000 } },
      { test: { name: 'integration', include: ['test/integration/**/*.test.ts'], testTimeout: 60_000, hookTimeout: 60_000 } },
      { test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], testTimeout: 60_000, hookTimeout: 60_000 } },
    ],
  },
});
