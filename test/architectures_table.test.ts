/** The supported-architectures tables (README.md, docs/architectures.md) are generated from models/ and kept in sync. */
import * as fs from 'fs';
import * as path from 'path';
import {OP_NAMES, OPS} from '../src/op_table';
import {architectureTable} from '../src/transform/architectures';
import {listFixtures} from './helpers/load_fixture';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const {withTable, TARGETS} = require('../tools/architectures-table.js');

test.each((TARGETS as Array<{file: string}>).map(t => t.file))('the table in %s matches models/*.json', file => {
  const text = fs.readFileSync(path.join(__dirname, '..', file), 'utf8');
  expect(withTable(text, file)).toBe(text);
});

test('every architecture entry is well formed', () => {
  for (const entry of architectureTable()) {
    expect(['encoderLayer', 'attention', 'refused']).toContain(entry.fusion);
    if (entry.fusion !== 'encoderLayer') expect(entry.reason ?? entry.notes).toBeTruthy();
    expect(entry.modelTypes.length).toBeGreaterThan(0);
    expect(['cached', null]).toContain(entry.generation);
  }
});

test('every fixture belongs to exactly one entry, and entries name only graph ops of the op table', () => {
  for (const fixture of listFixtures()) {
    expect([fixture.id, architectureTable().filter(e => e.fixtures.includes(fixture.id)).map(e => e.id).length]).toEqual([fixture.id, 1]);
  }
  const fixtureIds = new Set(listFixtures().map(f => f.id));
  for (const entry of architectureTable()) {
    expect(entry.fixtures.length).toBeGreaterThan(0);
    for (const id of entry.fixtures) expect([entry.id, id, fixtureIds.has(id)]).toEqual([entry.id, id, true]);
    for (const op of entry.fusedOps) expect([entry.id, op, OP_NAMES.includes(op) && OPS[op].graphOp]).toEqual([entry.id, op, true]);
    expect(entry.fusedOps.length === 0).toBe(entry.fusion === 'refused');
  }
  // A decoder fixture's family says how the generator runs it (test/generation.test.ts holds it to that).
  for (const fixture of listFixtures().filter(f => f.kind === 'decoder' && f.format === 'graph-model')) {
    const entry = architectureTable().find(e => e.fixtures.includes(fixture.id));
    expect([fixture.id, entry?.generation]).toEqual([fixture.id, 'cached']);
  }
});
