/**
 * The file format of the interaction scripts: blocks of
 *
 *     # comments (and blank lines) about the next command
 *     command arg key=value key=(a,b)
 *     ----
 *     expected output, one or more lines, ended by a blank line or the end of the file
 *
 * `renderScript(parseScript(text))` gives back `text` exactly, and `renderScript` with other outputs is
 * how the rewrite mode writes the actual output into the file.
 */

export const SEPARATOR = '----';

export interface Arg {
  /** `key` of `key=value`; null for a positional argument. */
  key: string | null;
  /** The raw value: `3`, `(1,2,3)`. */
  value: string;
  /** The value split into its items: `(1,2,3)` gives [1, 2, 3], `3` gives [3]. */
  items: string[];
}

export interface Command {
  /** Comment and blank lines before the command, kept verbatim. */
  prelude: string[];
  /** 1-based line of the command in its file, for error messages. */
  lineNumber: number;
  text: string;
  name: string;
  args: Arg[];
  expected: string[];
}

export interface Script {
  commands: Command[];
  /** Comment and blank lines after the last command. */
  epilogue: string[];
}

export function parseArgs(tokens: string[]): Arg[] {
  return tokens.map((token) => {
    const eq = token.indexOf('=');
    const key = eq > 0 ? token.slice(0, eq) : null;
    const value = eq > 0 ? token.slice(eq + 1) : token;
    const inner = value.startsWith('(') && value.endsWith(')') ? value.slice(1, -1) : value;
    const items = inner === '' ? [] : inner.split(',').map((s) => s.trim());
    return { key, value, items };
  });
}

export function parseScript(text: string, fileName = 'script'): Script {
  const lines = text.split('\n');
  // A file that ends with a newline has an empty last "line" that is not a blank line of the script.
  if (lines[lines.length - 1] === '') lines.pop();
  const commands: Command[] = [];
  let prelude: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === '' || line.startsWith('#')) {
      prelude.push(line);
      i++;
      continue;
    }
    const lineNumber = i + 1;
    if (lines[i + 1] !== SEPARATOR) {
      throw new Error(`${fileName}:${lineNumber}: command "${line}" must be followed by a "${SEPARATOR}" line`);
    }
    const expected: string[] = [];
    i += 2;
    while (i < lines.length && lines[i].trim() !== '') expected.push(lines[i++]);
    const [name, ...tokens] = line.trim().split(/\s+/);
    commands.push({ prelude, lineNumber, text: line, name, args: parseArgs(tokens), expected });
    prelude = [];
  }
  return { commands, epilogue: prelude };
}

/** The script with `outputs[i]` as the output of command i. */
export function renderScript(script: Script, outputs: string[][]): string {
  const out: string[] = [];
  script.commands.forEach((cmd, i) => {
    out.push(...cmd.prelude, cmd.text, SEPARATOR, ...outputs[i]);
  });
  out.push(...script.epilogue);
  return out.join('\n') + '\n';
}
