/**
 * Of candidate matches that may overlap (a norm's inner Mul matches a
 * gamma-less norm, an inner Add a shorter sum), the widest ones, none sharing
 * a node, in graph order of their `at` node.
 */
import {NodeDef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';

export function widestDisjoint<T>(view: GraphView, found: T[], nodesOf: (t: T) => NodeDef[], at: (t: T) => NodeDef): T[] {
  const taken = new Set<string>();
  const kept = [...found].sort((a, b) => nodesOf(b).length - nodesOf(a).length).filter(f => {
    if (nodesOf(f).some(n => taken.has(n.name))) return false;
    nodesOf(f).forEach(n => taken.add(n.name));
    return true;
  });
  const order = new Map(view.graph.node.map((n, i) => [n.name, i]));
  return kept.sort((a, b) => (order.get(at(a).name) ?? 0) - (order.get(at(b).name) ?? 0));
}
