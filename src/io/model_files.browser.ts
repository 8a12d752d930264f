/**
 * The browser build's twin of model_files.ts: without a file system only the
 * manifest checks remain; models are loaded over HTTP
 * (directory_loader.browser.ts).
 */
export {ModelFileError, weightSpecsByteLength} from './weight_specs';
