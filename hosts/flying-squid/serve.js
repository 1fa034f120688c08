#!/usr/bin/env node
// Entry point of the example server: node hosts/flying-squid/serve.js --help. One process
// (tsx is loaded in it, not as a wrapper process), so a signal sent to it reaches the server.
// The AWS SDK's Node-version notice is silenced as in bin/cairn.js: Cairn runs on Node 20+.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { register } = await import('tsx/esm/api');
register();
const { main } = await import('./serve.ts');
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`serve: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
// The back end and flying-squid may leave timers behind; what had to end has ended.
process.exit();
