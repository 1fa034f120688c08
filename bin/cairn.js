#!/usr/bin/env node
// Entry point of the `cairn` command. Runs the TypeScript sources through tsx, so a
// fresh clone needs only `npm install`.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
