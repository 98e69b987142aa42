/**
 * Runs every script in testdata/ (see README.md) and compares each command's output with the output
 * written under it. With REWRITE=1 the actual output is written into the files instead, so that a
 * change of behaviour shows as a diff to read (and to check against Raft's rules before committing).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InteractionEnv } from './env';
import { parseScript, renderScript } from './script';

const dir = join(__dirname, 'testdata');
const rewrite = process.env.REWRITE === '1';
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.txt'))
  .sort();

describe('interaction scripts', () => {
  it('finds the scripts', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files)('%s', async (file) => {
    const path = join(dir, file);
    const text = readFileSync(path, 'utf8');
    const script = parseScript(text, file);
    // A script whose every command prints only "ok" would check nothing.
    expect(script.commands.some((c) => c.expected.join('\n') !== 'ok') || rewrite).toBe(true);
    const env = new InteractionEnv();
    const outputs: string[][] = [];
    for (const cmd of script.commands) outputs.push(await env.run(cmd));
    const actual = renderScript(script, outputs);
    if (rewrite) writeFileSync(path, actual);
    else expect(actual).toBe(text);
  });
});
