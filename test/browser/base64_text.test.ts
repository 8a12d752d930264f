/**
 * The rewriting pass reads and writes GraphDef string attributes (base64 of
 * UTF-8) without Node's Buffer, so that it runs in a browser: the results must
 * be Buffer's, for converter output and for malformed input alike.
 */
import {decodeBase64Text, encodeBase64Text} from '../../src/transform/graph/base64_text';

const TEXTS = ['', 'a', 'ab', 'abc', 'BiasAdd', 'Relu', 'héllo → 世界 🎉', 'x'.repeat(1000)];

test('encodes text as Buffer does', () => {
  for (const s of TEXTS) expect(encodeBase64Text(s)).toBe(Buffer.from(s, 'utf8').toString('base64'));
});

test('decodes standard, unpadded and URL-safe base64 as Buffer does', () => {
  for (const s of TEXTS) {
    const b = Buffer.from(s, 'utf8').toString('base64');
    for (const form of [b, b.replace(/=+$/, ''), Buffer.from(s).toString('base64url')]) {
      expect(decodeBase64Text(form)).toBe(s);
    }
  }
});

test('decodes malformed base64 and UTF-8 as Buffer does', () => {
  for (const junk of ['QQ==QQ==', 'QUJD=REVG', 'Qm l\nhc0FkZA==', 'Q', 'QQ', '/+/+', '-_-_', '//8=', 'gA==', '*&^%']) {
    expect([junk, decodeBase64Text(junk)]).toEqual([junk, Buffer.from(junk, 'base64').toString('utf8')]);
  }
});
