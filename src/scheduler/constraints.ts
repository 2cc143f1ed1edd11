/**
 * Placement constraints (`deploy.placement.constraints`), Swarm's syntax: `<attribute> == <value>` or
 * `<attribute> != <value>`, all of which must hold. Attributes: `node.id`, `node.hostname`, `node.role`,
 * `node.platform.os`, `node.platform.arch`, `node.labels.<key>`, `engine.labels.<key>`.
 */
import type { NodeInfo } from "./types.js";

export interface Constraint {
  /** As written, for messages. */
  readonly text: string;
  readonly attribute: string;
  readonly operator: "==" | "!=";
  readonly value: string;
}

/** Parse one constraint; `undefined` when it is not `attribute==value` / `attribute!=value`. */
export function parseConstraint(text: string): Constraint | undefined {
  const m = /^\s*([A-Za-z0-9_.-]+)\s*(==|!=)\s*(.*?)\s*$/.exec(text);
  if (m === null) return undefined;
  const [, attribute = "", operator, value = ""] = m;
  if (value === "") return undefined;
  return { text, attribute, operator: operator === "!=" ? "!=" : "==", value };
}

/**
 * Whether `node` satisfies `c`. An attribute the node does not have (an unset label) equals nothing, so
 * `!=` holds and `==` does not, as in Swarm. Unknown attributes never match.
 */
export function satisfies(node: NodeInfo, c: Constraint): boolean {
  const actual = attributeOf(node, c.attribute);
  if (actual === null) return false;
  // Swarm compares hostnames and roles case-insensitively; labels exactly.
  const fold = c.attribute === "node.hostname" || c.attribute === "node.role";
  const equal =
    actual !== undefined && (fold ? actual.toLowerCase() === c.value.toLowerCase() : actual === c.value);
  return c.operator === "==" ? equal : !equal;
}

/** The node's value for an attribute; `undefined` = not set on this node, `null` = not an attribute. */
function attributeOf(node: NodeInfo, attribute: string): string | undefined | null {
  switch (attribute) {
    case "node.id":
      return node.id;
    case "node.hostname":
      return node.hostname;
    case "node.role":
      return node.role;
    case "node.platform.os":
      return node.platform?.os;
    case "node.platform.arch":
      return node.platform?.arch;
  }
  if (attribute.startsWith("node.labels.")) return node.labels?.[attribute.slice("node.labels.".length)];
  if (attribute.startsWith("engine.labels."))
    return node.engineLabels?.[attribute.slice("engine.labels.".length)];
  return null;
}
