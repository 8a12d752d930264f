'use strict';
/** The folder holding model.json, its weight shards, the tokenizer and embedder.json. */
exports.modelDirectory = require('path').join(__dirname, 'model');
