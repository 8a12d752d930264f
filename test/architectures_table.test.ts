/** The README's supported-architectures table is generated from models/ and kept in sync. */
import * as fs from 'fs';
import * as path from 'path';
import {architectureTable} from '../src/transform/architectures';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const {withTable} = require('../tools/architectures-table.js');

test('README table matches models/*.json', () => {
  const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
  expect(withTable(readme)).toBe(readme);
});

test('every architecture entry is well formed', () => {
  for (const entry of architectureTable()) {
    expect(['encoderLayer', 'attention', 'refused']).toContain(entry.fusion);
    if (entry.fusion !== 'encoderLayer') expect(entry.reason ?? entry.notes).toBeTruthy();
    expect(entry.modelTypes.length).toBeGreaterThan(0);
  }
});
