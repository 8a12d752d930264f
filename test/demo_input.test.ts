/** The embeddings demo's --input file: blank lines are kept (and reported), the output stays line-aligned. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {blankLinesNote, parseSentences, readSentenceFile} from '../demo/read_sentences';

test.each([
  ['a\nb\n', ['a', 'b'], []],
  ['a\nb', ['a', 'b'], []],
  ['a\n\nb\n', ['a', '', 'b'], [2]],
  ['a\r\n  \r\nb\r\n', ['a', '  ', 'b'], [2]],
  ['\na\n\n', ['', 'a', ''], [1, 3]],
  ['', [], []],
])('%j gives sentences %j with blank lines %j', (text, sentences, blank) => {
  expect(parseSentences(text)).toEqual({sentences, blankLines: blank});
});

test('a file of blank lines only is refused; blank lines are reported by number', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bt-demo-input-'));
  try {
    const empty = path.join(dir, 'empty.txt');
    fs.writeFileSync(empty, '\n \n');
    expect(() => readSentenceFile(empty)).toThrow(/has no sentences/);
    const some = path.join(dir, 'some.txt');
    fs.writeFileSync(some, 'one\n\nthree\n');
    const input = readSentenceFile(some);
    expect(input.sentences).toEqual(['one', '', 'three']);
    expect(blankLinesNote(some, input.blankLines)).toMatch(/1 blank line \(line 2\) kept as an empty sentence/);
    expect(blankLinesNote(some, [2, 5])).toMatch(/2 blank lines \(lines 2, 5\) kept as empty sentences/);
    expect(blankLinesNote(some, [])).toBeNull();
  } finally {
    fs.rmSync(dir, {recursive: true, force: true});
  }
});
