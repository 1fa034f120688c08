/**
 * The plugin's `hunts/` folder: one rules file per hunt (*.json). Loading reports every
 * problem of every file, so `hunt reload` can show the admin what to fix and keep the
 * rules in force meanwhile.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkRulesText, formatRulesIssue, type HuntRules } from '../protocol/index.js';

export type HuntsFolderResult = { ok: true; hunts: HuntRules[]; warnings: string[] } | { ok: false; errors: string[] };

export function loadHuntsDir(dir: string): HuntsFolderResult {
  let files: string[];
  try {
    files = readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort();
  } catch (err) {
    return { ok: false, errors: [`${dir}: cannot read the folder (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`] };
  }
  const hunts: HuntRules[] = [];
  const errors: string[] = [];
  const warnings: string[] = [];
  const seen = new Map<string, string>();
  for (const f of files) {
    const file = join(dir, f);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      errors.push(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      continue;
    }
    const res = checkRulesText(text, file);
    for (const i of res.issues) (i.severity === 'error' ? errors : warnings).push(formatRulesIssue(i));
    if (!res.rules) continue;
    const other = seen.get(res.rules.id);
    if (other) errors.push(`${file}: /id: hunt id "${res.rules.id}" is also used by ${other}`);
    seen.set(res.rules.id, file);
    hunts.push(res.rules);
  }
  if (!files.length) errors.push(`${dir}: no *.json hunt files`);
  return errors.length ? { ok: false, errors } : { ok: true, hunts, warnings };
}
