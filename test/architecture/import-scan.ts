/**
 * Finds every module specifier a TypeScript file imports: `import ... from`, `export ...
 * from`, `import '...'`, `import('...')`, `require('...')` and `import x = require(...)`,
 * type-only imports included (a type import couples two folders as much as a value one).
 * Comments, strings, template literals and regular expressions are skipped, so a
 * specifier-looking text inside them is not an import. TypeScript 7 ships no JS parser
 * API, and a scanner this size is easier to trust than a transitive dependency.
 */

export interface ImportRef {
  specifier: string;
  line: number;
}

/** Keywords after which a `/` starts a regular expression rather than a division. */
const REGEX_AFTER_WORDS = new Set(['return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void', 'throw', 'case', 'do', 'else', 'yield', 'await']);

interface Token {
  kind: 'word' | 'string' | 'punct';
  text: string;
  line: number;
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let line = 1;
  const last = () => out[out.length - 1];
  const regexAllowed = () => {
    const t = last();
    if (!t) return true;
    if (t.kind === 'string') return false;
    if (t.kind === 'word') return REGEX_AFTER_WORDS.has(t.text);
    return !(t.text === ')' || t.text === ']' || t.text === '}');
  };
  while (i < src.length) {
    const c = src[i]!;
    if (c === '\n') {
      line++;
      i++;
    } else if (c === ' ' || c === '\t' || c === '\r') {
      i++;
    } else if (c === '/' && src[i + 1] === '/') {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      const stop = end < 0 ? src.length : end + 2;
      for (let j = i; j < stop; j++) if (src[j] === '\n') line++;
      i = stop;
    } else if (c === "'" || c === '"') {
      const start = line;
      let text = '';
      i++;
      while (i < src.length && src[i] !== c) {
        if (src[i] === '\\') {
          text += src[i + 1] ?? '';
          i += 2;
        } else {
          if (src[i] === '\n') line++;
          text += src[i++];
        }
      }
      i++;
      out.push({ kind: 'string', text, line: start });
    } else if (c === '`') {
      i = skipTemplate(src, i + 1, (n) => (line += n));
      out.push({ kind: 'punct', text: '`', line });
    } else if (c === '/' && regexAllowed()) {
      let inClass = false;
      i++;
      while (i < src.length && src[i] !== '\n') {
        const d = src[i]!;
        if (d === '\\') i++;
        else if (d === '[') inClass = true;
        else if (d === ']') inClass = false;
        else if (d === '/' && !inClass) break;
        i++;
      }
      i++;
      while (i < src.length && /[a-z]/i.test(src[i]!)) i++;
      out.push({ kind: 'punct', text: '/re/', line });
    } else if (/[A-Za-z_$]/.test(c)) {
      let j = i + 1;
      while (j < src.length && /[\w$]/.test(src[j]!)) j++;
      // A property name (`x.import`, `x.from`) is not a keyword.
      const prev = last();
      const text = src.slice(i, j);
      out.push({ kind: prev?.kind === 'punct' && prev.text === '.' ? 'punct' : 'word', text, line });
      i = j;
    } else {
      out.push({ kind: 'punct', text: c, line });
      i++;
    }
  }
  return out;
}

/** Skips a template literal body (after the opening backtick), nested `${...}` included; returns the index after the closing backtick. */
function skipTemplate(src: string, i: number, lines: (n: number) => void): number {
  while (i < src.length) {
    const c = src[i]!;
    if (c === '\\') i += 2;
    else if (c === '`') return i + 1;
    else if (c === '$' && src[i + 1] === '{') {
      // Scan the expression up to its matching brace; strings and nested templates inside it are skipped whole.
      let depth = 1;
      i += 2;
      while (i < src.length && depth > 0) {
        const d = src[i]!;
        if (d === '{') depth++;
        else if (d === '}') depth--;
        else if (d === '`') {
          i = skipTemplate(src, i + 1, lines);
          continue;
        } else if (d === "'" || d === '"') {
          i++;
          while (i < src.length && src[i] !== d) i += src[i] === '\\' ? 2 : 1;
        } else if (d === '\n') lines(1);
        i++;
      }
    } else {
      if (c === '\n') lines(1);
      i++;
    }
  }
  return i;
}

/** Every module the file imports, in source order. */
export function scanImports(src: string): ImportRef[] {
  const t = tokenize(src);
  const out: ImportRef[] = [];
  const is = (k: number, text: string) => t[k]?.text === text && t[k]?.kind !== 'string';
  for (let k = 0; k < t.length; k++) {
    const tok = t[k]!;
    if (tok.kind !== 'word') continue;
    if (tok.text === 'from' && t[k + 1]?.kind === 'string') {
      out.push({ specifier: t[k + 1]!.text, line: t[k + 1]!.line });
    } else if (tok.text === 'import' && t[k + 1]?.kind === 'string') {
      out.push({ specifier: t[k + 1]!.text, line: t[k + 1]!.line }); // import './side-effect.js'
    } else if ((tok.text === 'import' || tok.text === 'require') && is(k + 1, '(') && t[k + 2]?.kind === 'string') {
      out.push({ specifier: t[k + 2]!.text, line: t[k + 2]!.line });
    }
  }
  return out;
}
