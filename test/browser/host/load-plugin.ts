/**
 * Loads a built plugin the way Grafana does: dist/module.js is an AMD module served from
 * public/plugins/<id>/, and Grafana's loader hands it the host's shared libraries. This is
 * a minimal `define` that resolves those names from `shared` and refuses any other.
 */
type Factory = (...deps: unknown[]) => Record<string, unknown> | void;
type Define = ((deps: string[], factory: Factory) => void) & { amd: object };

export function loadPlugin(src: string, shared: Readonly<Record<string, unknown>>): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const w = window as unknown as { define?: Define };
    const define = ((deps: string[], factory: Factory) => {
      const exportsObj: Record<string, unknown> = {};
      try {
        const args = deps.map((d) => {
          if (d === 'exports') return exportsObj;
          if (!(d in shared)) throw new Error(`plugin asked for "${d}", which the host does not share`);
          return shared[d];
        });
        const result = factory(...args);
        resolve(result ?? exportsObj);
      } catch (e) {
        reject(e);
      }
    }) as Define;
    define.amd = {};
    w.define = define;
    const script = document.createElement('script');
    script.src = src;
    script.onerror = () => reject(new Error(`cannot load ${src}`));
    document.head.appendChild(script);
  });
}
