/**
 * The example server's command line as the README documents it, so the tests run what a
 * reader runs: the first `node hosts/flying-squid/serve.js ...` line of a sh block in
 * README.md (with its backslash continuations).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
export const SERVE_SCRIPT = 'hosts/flying-squid/serve.js';

/** The arguments after `node hosts/flying-squid/serve.js`, as paths relative to the repository root. */
export function documentedServeArgs(readme = readFileSync(`${REPO_ROOT}README.md`, 'utf8')): string[] {
  const lines = readme.split('\n');
  const i = lines.findIndex((l) => l.startsWith(`node ${SERVE_SCRIPT} `));
  if (i < 0) throw new Error(`README.md: no line starting "node ${SERVE_SCRIPT} " (the example server's documented command)`);
  let command = '';
  for (let j = i; j < lines.length; j++) {
    const line = lines[j]!.trim();
    if (!line.endsWith('\\')) {
      command += line;
      break;
    }
    command += `${line.slice(0, -1)} `;
  }
  const words = command.split(/\s+/).filter(Boolean);
  if (words.some((w) => /["'$`*]/.test(w))) throw new Error(`README.md: the documented command has quoting or expansion this test does not parse: ${command}`);
  return words.slice(2);
}
