/**
 * Object channels as the frames Grafana's panels expect: a histogram as `xMin/xMax/count`
 * buckets (the histogram panel reads those names), a table as typed columns, and a tree
 * as node-graph `nodes` and `edges` frames.
 */
import type { FieldType, FrameJSON } from '../../common/frames';
import type { Channel, ObjectValue, TreeNode } from '../registry/types';
import { grafanaUnit } from './fields';

export function objectFrames(instance: string, channel: Channel, obj: ObjectValue, refId: string): FrameJSON[] {
  const labels = { instance, ...(channel.labels ?? {}) };
  const name = channel.name;
  switch (obj.type) {
    case 'histogram': {
      const n = obj.counts.length;
      return [
        {
          schema: {
            name,
            refId,
            meta: { type: 'histogram' },
            fields: [
              { name: 'xMin', type: 'number', config: unitConfig(channel.unit) },
              { name: 'xMax', type: 'number', config: unitConfig(channel.unit) },
              { name: 'count', type: 'number', config: {}, labels },
            ],
          },
          data: { values: [obj.edges.slice(0, n), obj.edges.slice(1, n + 1), obj.counts] },
        },
      ];
    }
    case 'table':
      return [
        {
          schema: {
            name,
            refId,
            fields: obj.columns.map((c) => ({ name: c.name, type: c.type as FieldType, config: unitConfig(c.unit) })),
          },
          data: { values: obj.columns.map((_, c) => obj.rows.map((row) => row[c] ?? null)) },
        },
      ];
    case 'tree':
      return treeFrames(name, refId, obj.root);
  }
}

function unitConfig(unit: string | undefined): { unit?: string } {
  const u = grafanaUnit(unit);
  return u ? { unit: u } : {};
}

/** Node ids are paths so that equal names under different parents stay distinct. */
function treeFrames(name: string, refId: string, root: TreeNode): FrameJSON[] {
  const ids: string[] = [];
  const titles: string[] = [];
  const stats: Array<string | null> = [];
  const edgeIds: string[] = [];
  const sources: string[] = [];
  const targets: string[] = [];
  const walk = (node: TreeNode, id: string, parent?: string): void => {
    ids.push(id);
    titles.push(node.name);
    stats.push(node.value === undefined || node.value === null ? null : String(node.value));
    if (parent !== undefined) {
      edgeIds.push(`${parent}->${id}`);
      sources.push(parent);
      targets.push(id);
    }
    (node.children ?? []).forEach((child, i) => walk(child, `${id}/${i}:${child.name}`, id));
  };
  walk(root, root.name);
  const meta = { preferredVisualisationType: 'nodeGraph' };
  return [
    {
      schema: {
        name: `${name} nodes`,
        refId,
        meta,
        fields: [
          { name: 'id', type: 'string' },
          { name: 'title', type: 'string' },
          { name: 'mainstat', type: 'string' },
        ],
      },
      data: { values: [ids, titles, stats] },
    },
    {
      schema: {
        name: `${name} edges`,
        refId,
        meta,
        fields: [
          { name: 'id', type: 'string' },
          { name: 'source', type: 'string' },
          { name: 'target', type: 'string' },
        ],
      },
      data: { values: [edgeIds, sources, targets] },
    },
  ];
}
