#!/usr/bin/env node
// `npm run bench -- [name...]`: runs the benchmarks in bench/ (all when no name is given).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// Benchmarks log at warn: no info lines between the figures.
process.env.CAIRN_LOG_LEVEL ??= 'warn';
const { register } = await import('tsx/esm/api');
register();
const { runBenchmarks } = await import('../bench/run.ts');
process.exitCode = await runBenchmarks(process.argv.slice(2));
