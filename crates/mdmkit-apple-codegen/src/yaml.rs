//! A YAML tree that keeps anchors as shared nodes.
//!
//! Apple's schema shares sub-schemas through anchors and aliases, and some
//! are recursive (an alias inside the node it names). Loaders that copy
//! aliased nodes cannot represent that; this one keeps every node in an arena
//! and makes an alias point at the anchored node's index, so sharing is
//! visible (one generated type per shared sub-schema) and cycles are finite.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, EventReceiver, Parser};
use yaml_rust2::scanner::TScalarStyle;

/// One node of the tree.
#[derive(Debug, Clone)]
pub enum Node {
    /// A scalar; `plain` is false for quoted and block scalars.
    Scalar {
        /// The text.
        value: String,
        /// Whether it was written without quotes.
        plain: bool,
    },
    /// A sequence of node indexes.
    Seq(Vec<usize>),
    /// A mapping of string keys to node indexes, in document order.
    Map(Vec<(String, usize)>),
}

/// A parsed YAML document.
#[derive(Debug, Clone)]
pub struct Doc {
    /// Every node; aliases are indexes of anchored nodes.
    pub nodes: Vec<Node>,
    /// The root node.
    pub root: usize,
}

impl Doc {
    /// The node at an index.
    pub fn node(&self, id: usize) -> &Node {
        &self.nodes[id]
    }

    /// A mapping's value for a key.
    pub fn get(&self, id: usize, key: &str) -> Option<usize> {
        match &self.nodes[id] {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| *v),
            _ => None,
        }
    }

    /// A scalar's text.
    pub fn str(&self, id: usize) -> Option<&str> {
        match &self.nodes[id] {
            Node::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// A mapping's scalar value for a key.
    pub fn get_str(&self, id: usize, key: &str) -> Option<&str> {
        self.get(id, key).and_then(|v| self.str(v))
    }

    /// A sequence's items (empty for anything else).
    pub fn items(&self, id: usize) -> &[usize] {
        match &self.nodes[id] {
            Node::Seq(items) => items,
            _ => &[],
        }
    }
}

#[derive(Default)]
struct Builder {
    nodes: Vec<Node>,
    stack: Vec<(usize, Option<String>)>,
    anchors: HashMap<usize, usize>,
    root: Option<usize>,
    error: Option<String>,
}

impl Builder {
    fn attach(&mut self, id: usize) {
        match self.stack.last_mut() {
            None => self.root = Some(id),
            Some((parent, pending)) => match &mut self.nodes[*parent] {
                Node::Seq(items) => items.push(id),
                Node::Map(entries) => match pending.take() {
                    Some(key) => entries.push((key, id)),
                    None => self.error = Some("a mapping key is not a scalar".into()),
                },
                Node::Scalar { .. } => self.error = Some("scalar parent".into()),
            },
        }
    }

    fn wants_key(&self) -> bool {
        matches!(self.stack.last(), Some((p, None)) if matches!(self.nodes[*p], Node::Map(_)))
    }

    fn open(&mut self, node: Node, anchor: usize) {
        let id = self.nodes.len();
        self.nodes.push(node);
        if anchor > 0 {
            self.anchors.insert(anchor, id);
        }
        self.attach(id);
        self.stack.push((id, None));
    }
}

impl EventReceiver for Builder {
    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Alias(anchor) => match self.anchors.get(&anchor) {
                Some(&id) => self.attach(id),
                None => self.error = Some(format!("alias to unknown anchor {anchor}")),
            },
            Event::Scalar(value, style, anchor, _) => {
                if self.wants_key() {
                    if let Some((_, pending)) = self.stack.last_mut() {
                        *pending = Some(value);
                    }
                    return;
                }
                let id = self.nodes.len();
                self.nodes.push(Node::Scalar {
                    value,
                    plain: style == TScalarStyle::Plain,
                });
                if anchor > 0 {
                    self.anchors.insert(anchor, id);
                }
                self.attach(id);
            }
            Event::SequenceStart(anchor, _) => self.open(Node::Seq(Vec::new()), anchor),
            Event::MappingStart(anchor, _) => self.open(Node::Map(Vec::new()), anchor),
            Event::SequenceEnd | Event::MappingEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

/// Parses one YAML document.
pub fn parse(text: &str) -> Result<Doc, String> {
    let mut builder = Builder::default();
    Parser::new_from_str(text)
        .load(&mut builder, false)
        .map_err(|e| e.to_string())?;
    if let Some(e) = builder.error {
        return Err(e);
    }
    let root = builder.root.ok_or("empty document")?;
    Ok(Doc {
        nodes: builder.nodes,
        root,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recursive_alias_points_back_at_its_anchor() {
        let doc = parse("a: &x\n- k: 1\n  sub: *x\n").unwrap();
        let a = doc.get(doc.root, "a").unwrap();
        let first = doc.items(a)[0];
        assert_eq!(doc.get(first, "sub"), Some(a));
    }
}
