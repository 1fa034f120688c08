/**
 * Reading a hunt rules file: the part of rules loading that touches the disk, kept out
 * of protocol/ (which stays pure). The plugin, the `cairn` command and the hosts use it.
 */
import { readFileSync } from 'node:fs';
import { checkRulesText, RulesError, type HuntRules, type RulesCheck } from '../protocol/index.js';

/** Reads and checks a rules file; a file that cannot be read is one issue, like any other. */
export function checkRulesFile(file: string): RulesCheck {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? String(err);
    return { issues: [{ file, path: '', message: `cannot read: ${why}`, severity: 'error' }] };
  }
  return checkRulesText(text, file);
}

/** Reads and validates a rules file; throws RulesError listing every error, each at file:line:col. */
export function loadRulesFile(file: string): HuntRules {
  const res = checkRulesFile(file);
  if (!res.rules) throw new RulesError(res.issues);
  return res.rules;
}
