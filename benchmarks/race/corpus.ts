/**
 * The race's sentences: generated deterministically from a seed, with a
 * realistic length mix for sentence-embedding workloads (mostly short
 * queries and titles, some medium sentences, a tail of long passages), so
 * that batches of mixed length carry real padding.
 */
import {mulberry32} from '../weights';

const WORDS = (
  'the a of to and in is for on that with as was at by it from be this have are or an not but which they you ' +
  'their one all we can more when there so what about out up time people year new first work world also after ' +
  'use way day most school state may system program question government number company during without place ' +
  'home water room money market night point fact week member month right study book business issue side kind ' +
  'head house service friend father power hour game line end city community name president team minute idea ' +
  'body information back parent face level office door health person art war history party result change ' +
  'morning reason research girl guy moment air teacher force education foot boy age policy music process ' +
  'password account login reset rain weather storm forecast guitar concert price stock bank rate interest ' +
  'embedding sentence model search query document language translation network server database cloud ' +
  'quickly slowly carefully nearly suddenly often rarely today tomorrow yesterday recently finally ' +
  'large small important different local social national public political economic natural whole free ' +
  'build find give tell become leave feel bring begin keep hold write stand hear include continue learn ' +
  'change lead understand watch follow stop create speak read allow spend grow open walk win offer remember'
).split(' ');

/** Words per sentence: 55% short (3–12), 35% medium (13–30), 10% long (31–90). */
function sentenceLength(random: () => number): number {
  const r = random();
  const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  if (r < 0.55) return between(3, 12);
  if (r < 0.90) return between(13, 30);
  return between(31, 90);
}

export function raceSentences(count: number, seed = 20240611): string[] {
  const random = mulberry32(seed);
  const sentences: string[] = [];
  for (let i = 0; i < count; i++) {
    const words = Array.from({length: sentenceLength(random)}, () => WORDS[Math.floor(random() * WORDS.length)]);
    const text = words.join(' ');
    sentences.push(text.charAt(0).toUpperCase() + text.slice(1) + (random() < 0.8 ? '.' : '?'));
  }
  return sentences;
}
