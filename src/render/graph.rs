//! The changeset's dependency graph as Graphviz DOT or a Mermaid flowchart: one node
//! per changeset node, labelled with its action symbol, address and API call; an edge
//! from each dependency to the node that waits for it.

use std::collections::HashMap;

use crate::changeset::{Action, Changeset, Node};
use crate::model::Address;

/// Which graph language to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

/// The symbol the human plan uses for an action.
pub fn symbol(action: Action) -> &'static str {
    match action {
        Action::Create => "+",
        Action::Update => "~",
        Action::Delete => "-",
        Action::Replace => "-/+",
        Action::NoOp => " ",
    }
}

/// The action each node performs: its resource's, or for a node with no change record
/// of its own (a revoke that lets a group go), what its op does.
fn node_actions(cs: &Changeset) -> Vec<Action> {
    let by_addr: HashMap<&Address, Action> =
        cs.changes.iter().map(|c| (&c.address, c.action)).collect();
    cs.nodes
        .iter()
        .map(|n| {
            by_addr
                .get(&n.address)
                .copied()
                .unwrap_or(if n.op.removes() {
                    Action::Delete
                } else {
                    Action::Update
                })
        })
        .collect()
}

/// `+ subnet.private-a (CreateSubnet)`, with the further resources one call covers.
fn label(node: &Node, action: Action) -> String {
    let mut s = format!(
        "{} {} ({})",
        symbol(action),
        node.address,
        node.op.api_name()
    );
    if !node.covers.is_empty() {
        let more: Vec<String> = node.covers.iter().map(|a| a.to_string()).collect();
        s.push_str(&format!(" + {}", more.join(", ")));
    }
    s
}

/// The graph in `format`. An empty changeset is a graph with no nodes.
pub fn render(cs: &Changeset, format: GraphFormat) -> String {
    match format {
        GraphFormat::Dot => dot(cs),
        GraphFormat::Mermaid => mermaid(cs),
    }
}

fn dot(cs: &Changeset) -> String {
    let actions = node_actions(cs);
    let mut out = format!("digraph {:?} {{\n", format!("sagevpc {}", cs.plan));
    out.push_str("  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n");
    for (i, (n, a)) in cs.nodes.iter().zip(&actions).enumerate() {
        let color = match a {
            Action::Create => "darkgreen",
            Action::Update => "goldenrod",
            Action::Delete => "red",
            Action::Replace => "darkorange",
            Action::NoOp => "black",
        };
        out.push_str(&format!(
            "  n{i} [label={:?}, color={color}];\n",
            label(n, *a)
        ));
    }
    for (i, n) in cs.nodes.iter().enumerate() {
        for d in &n.deps {
            out.push_str(&format!("  n{d} -> n{i};\n"));
        }
    }
    out.push_str("}\n");
    out
}

fn mermaid(cs: &Changeset) -> String {
    let actions = node_actions(cs);
    let mut out = String::from("flowchart LR\n");
    for (i, (n, a)) in cs.nodes.iter().zip(&actions).enumerate() {
        // Mermaid takes a quoted label; '"' is its only special character there.
        let text = label(n, *a).replace('"', "#quot;");
        out.push_str(&format!("  n{i}[\"{text}\"]\n"));
    }
    for (i, n) in cs.nodes.iter().enumerate() {
        for d in &n.deps {
            out.push_str(&format!("  n{d} --> n{i}\n"));
        }
    }
    out
}
