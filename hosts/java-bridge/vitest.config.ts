/**
 * The Java bridge's end-to-end test in a real JVM, run alone by `npm run test:jvm` (after
 * hosts/java-bridge/build.sh); never by the main `npm test`, whose config only includes
 * test/**. Root is the repository, so the test shares the main suite's Redis global setup.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['hosts/java-bridge/test/**/*.e2e.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 240_000,
    hookTimeout: 60_000,
    pool: 'forks',
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', CAIRN_LOG_LEVEL: process.env.CAIRN_LOG_LEVEL ?? 'warn' },
  },
});
