/**
 * The demo's built-in sentences: four topics, three paraphrases each, of
 * mixed length so that batches carry padding. A good embedding puts each
 * topic's sentences close together and the topics far apart.
 */
export const DEMO_SENTENCES: readonly string[] = [
  'A man is playing a guitar.',
  'Someone strums an acoustic guitar on a small stage while the audience claps along.',
  'A musician plays the guitar.',
  'How do I reset my password?',
  'I forgot my password and cannot log in to my account anymore, what should I do?',
  'Steps to recover a lost account password.',
  'The stock market fell sharply today.',
  'Shares dropped after the central bank unexpectedly raised interest rates by half a point.',
  'Investors sold equities as prices tumbled.',
  'It will rain heavily tomorrow.',
  'The weather forecast warns of storms and heavy rainfall across the north tomorrow afternoon.',
  'Expect a wet and stormy day tomorrow.',
];
