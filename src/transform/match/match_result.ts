/** What every matcher returns: a match, or the reason the candidate is left alone. */
export type MatchResult<T> = {ok: true; value: T} | {ok: false; reason: string};

export function matched<T>(value: T): MatchResult<T> {
  return {ok: true, value};
}

export function refused<T>(reason: string): MatchResult<T> {
  return {ok: false, reason};
}
