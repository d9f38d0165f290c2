/**
 * Grafana's TemplateSrv for tests and the browser harness: dashboard variables with `$name`
 * and `${name}` interpolation, scoped variables first, and Grafana's formats (a multi-value
 * variable is `{a,b}` in the default csv format, or whatever a format function makes of it).
 */
import type { ScopedVars } from '@grafana/data';
import { setTemplateSrv, type TemplateSrv } from '@grafana/runtime';

/** Dashboard variables: name → value(s). `$name` and `${name}` are replaced, formats applied. */
export function installTemplateSrv(variables: Record<string, string | string[]>): void {
  const srv: Partial<TemplateSrv> = {
    getVariables: () => [],
    containsTemplate: (t?: string) => !!t && /\$\w+|\$\{\w+\}/.test(t),
    updateTimeRange: () => undefined,
    replace(target?: string, scopedVars?: ScopedVars, format?: string | ((v: string | string[]) => string)): string {
      if (!target) return '';
      return target.replace(/\$(\w+)|\$\{(\w+)\}/g, (m, a?: string, b?: string) => {
        const name = (a ?? b)!;
        const scoped = scopedVars?.[name]?.value as string | string[] | undefined;
        const value = scoped ?? variables[name];
        if (value === undefined) return m;
        if (typeof format === 'function') return format(value);
        if (format === 'csv' || format === undefined)
          return Array.isArray(value) ? (value.length > 1 ? `{${value.join(',')}}` : value.join(',')) : value;
        return Array.isArray(value) ? value.join(',') : value;
      });
    },
  };
  setTemplateSrv(srv as TemplateSrv);
}
