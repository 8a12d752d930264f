/** The folder holding model.json, its weight shards, the tokenizer and embedder.json. */
export declare const modelDirectory: string;
