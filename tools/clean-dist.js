#!/usr/bin/env node
/**
 * Empties dist/ before a build, so files whose sources were moved or deleted (and outputs of older
 * layouts) never reach `npm pack`: the package ships dist/ as it is.
 */
'use strict';
const fs = require('fs');
const path = require('path');

fs.rmSync(path.join(__dirname, '..', 'dist'), {recursive: true, force: true});
