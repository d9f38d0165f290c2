import { AppError } from '../../errors';

/**
 * Bounds a plugin call: a plugin that never answers must not stall a stream forever. The
 * late answer, if any, is ignored.
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AppError('INTERNAL', `${what} did not answer within ${ms} ms`)), ms);
    timer.unref();
  });
  // A late rejection of the abandoned call must not surface as an unhandled rejection.
  promise.catch(() => undefined);
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
