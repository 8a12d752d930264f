/**
 * The one error type the package throws for bad arguments. Its message always
 * names the function, the argument, what was expected and what was given, so a
 * user can fix the call without reading our source.
 */
export class BetterTransformerArgumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BetterTransformerArgumentError';
  }
}
