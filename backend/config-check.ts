/**
 * Options checked once against a TypeBox schema (fastify style: defaults inline,
 * `additionalProperties: false`), every problem reported as one ConfigInvalid that
 * names the option, the value given and what it must be.
 */
import type { Static, TObject } from '@sinclair/typebox';
import { Ajv, type ErrorObject } from 'ajv';
import { CairnError, ErrorCode } from '../protocol/index.js';

export interface ConfigCheckOptions {
  /** Numbers and booleans given as strings (environment variables) are converted. @default false */
  coerce?: boolean;
  /** How an option is named in messages: `worker option pollMs`, `CAIRN_TOKEN`. */
  label: (name: string) => string;
}

/** A check of `schema`: returns the value with defaults filled in, or throws ConfigInvalid. */
export function configCheck<S extends TObject>(schema: S, opts: ConfigCheckOptions): (value: Record<string, unknown>) => Static<S> {
  const ajv = new Ajv({ allErrors: true, strict: false, verbose: true, useDefaults: true, coerceTypes: opts.coerce ?? false });
  const validate = ajv.compile(schema);
  return (value) => {
    const copy = { ...value };
    if (validate(copy)) return copy as Static<S>;
    throw new CairnError(ErrorCode.ConfigInvalid, (validate.errors ?? []).map((e) => problem(e, value, opts.label)).join('; '));
  };
}

function problem(e: ErrorObject, given: Record<string, unknown>, label: (name: string) => string): string {
  if (e.keyword === 'additionalProperties') {
    const name = String((e.params as { additionalProperty: string }).additionalProperty);
    return `${label(name)}: unknown`;
  }
  if (e.keyword === 'required') return `${label(String((e.params as { missingProperty: string }).missingProperty))} is required`;
  const name = e.instancePath.split('/')[1] ?? '';
  const shown = given[name];
  const value = typeof shown === 'string' ? JSON.stringify(shown) : String(shown);
  const why = e.keyword === 'pattern' ? `${e.parentSchema?.description ?? 'must match ' + String((e.params as { pattern: string }).pattern)}` : e.message ?? 'invalid';
  return `${label(name)}=${value}: ${why}`;
}
