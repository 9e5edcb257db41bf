import { defineConfig } from 'vitest/config';

// Two projects (STYLE.md §8): unit tests beside the code, parallel, no root;
// integration tests under test/, serial, as root in real namespaces.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{crds,lib,cli,cni,felix,bgp-speaker,controllers,manifests}/**/*.test.ts'],
          exclude: ['**/node_modules/**', 'dist/**'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'netns',
          include: ['test/**/*.test.ts'],
          exclude: ['**/node_modules/**', 'dist/**'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
