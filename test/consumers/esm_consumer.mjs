// ES module consumer with named imports; the plugin comes first.
import * as plugin from 'tfjs-better-transformer';
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import common from './common.cjs';

common.run(tf, plugin);
