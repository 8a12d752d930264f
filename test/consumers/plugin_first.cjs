// CommonJS consumer that imports the plugin before the cpu backend exists.
'use strict';
const plugin = require('tfjs-better-transformer');
require('@tensorflow/tfjs-backend-cpu');
require('./common.cjs').run(require('@tensorflow/tfjs-core'), plugin);
