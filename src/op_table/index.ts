/** The op table, the names derived from it and the kernels' attribute types. */
export * from './table';
export * from './names';
export * from './attrs';
export * from './limits';
