/**
 * The demo's --input file: one sentence a line. A blank line inside the file is
 * kept as an empty sentence, so embedding i of --output is line i + 1 of the
 * input; only the empty line a final newline leaves is not a sentence.
 */
import * as fs from 'fs';

export interface InputSentences {
  sentences: string[];
  /** 1-based numbers of the blank lines kept as empty sentences. */
  blankLines: number[];
}

export function parseSentences(text: string): InputSentences {
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const blankLines = lines.flatMap((line, i) => (line.trim() === '' ? [i + 1] : []));
  return {sentences: lines, blankLines};
}

export function readSentenceFile(file: string): InputSentences {
  const input = parseSentences(fs.readFileSync(file, 'utf8'));
  if (input.sentences.length === input.blankLines.length) throw new Error(`${file} has no sentences (every line is blank)`);
  return input;
}

/** The line the demo prints when blank lines were kept, or null. */
export function blankLinesNote(file: string, blankLines: number[]): string | null {
  if (blankLines.length === 0) return null;
  const shown = blankLines.slice(0, 10).join(', ') + (blankLines.length > 10 ? ', …' : '');
  const kept = blankLines.length === 1 ? '1 blank line (line ' + shown + ') kept as an empty sentence' :
      `${blankLines.length} blank lines (lines ${shown}) kept as empty sentences`;
  return `${file}: ${kept}, so the output stays line for line with the input`;
}
