/**
 * Long work that a request sizes is cut into slices with a yield between them, so the
 * sidecar keeps polling devices and answering others while it runs (setImmediate lets I/O
 * callbacks in; a resolved promise would not).
 */
export const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
