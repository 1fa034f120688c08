/** The published JSON Schema text of the hunt rules (schema/hunt-rules.schema.json). */
import { HuntRulesSchema } from './rules-schema.js';

export const HUNT_RULES_SCHEMA_ID = 'https://cairn.dev/schema/hunt-rules.schema.json';

export function huntRulesJsonSchema(): string {
  const schema = { $schema: 'http://json-schema.org/draft-07/schema#', $id: HUNT_RULES_SCHEMA_ID, ...JSON.parse(JSON.stringify(HuntRulesSchema)) };
  return JSON.stringify(schema, null, 2) + '\n';
}
