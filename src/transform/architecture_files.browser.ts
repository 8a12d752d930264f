/**
 * The browser build's twin of architecture_files.ts: a page has no package
 * directory to read models/*.json from, so tools/build-browser.js inlines
 * them, parsed and in file-name order, as this constant.
 */
declare const TFJS_BT_ARCHITECTURE_FILES: unknown[];

export function readArchitectureFiles(): unknown[] {
  return TFJS_BT_ARCHITECTURE_FILES;
}
