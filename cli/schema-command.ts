/** `cairn schema [--out FILE]`: writes the published hunt rules JSON Schema. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { huntRulesJsonSchema } from '../protocol/rules-json-schema.js';
import { parse } from './main.js';

export const SCHEMA_FILE = 'schema/hunt-rules.schema.json';

export async function schemaCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { out: { type: 'string', default: SCHEMA_FILE } });
  const out = values.out!;
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, huntRulesJsonSchema());
  process.stdout.write(`wrote ${out}\n`);
  return 0;
}
