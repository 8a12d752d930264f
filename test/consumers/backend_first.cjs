// CommonJS consumer that registers the cpu backend before importing the plugin.
'use strict';
require('@tensorflow/tfjs-backend-cpu');
const tf = require('@tensorflow/tfjs-core');
require('./common.cjs').run(tf, require('tfjs-better-transformer'));
