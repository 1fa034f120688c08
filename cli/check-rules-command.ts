/** `cairn check-rules FILE...`: every problem of every file, exit 1 when any file is invalid. */
import { formatRulesIssue } from '../protocol/index.js';
import { checkRulesFile } from '../plugin/rules-file.js';
import { UsageError } from './main.js';

export async function checkRulesCommand(files: string[]): Promise<number> {
  if (!files.length) throw new UsageError('check-rules needs at least one FILE');
  let bad = 0;
  for (const file of files) {
    const res = checkRulesFile(file);
    for (const i of res.issues) process.stderr.write(formatRulesIssue(i) + '\n');
    if (res.rules) process.stdout.write(`${file}: ok (${res.rules.id}: ${res.rules.treasures.length} treasures)\n`);
    else bad++;
  }
  return bad ? 1 : 0;
}
