//! Graph-level checks before anything is built: every operator is supported (one error lists
//! all that are not), every node input is defined, and the nodes have a topological order (the
//! returned order; exporters already sort, so it is usually the identity). Cycles and undefined
//! inputs are errors naming the node.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sofa_ir::dialect::DialectRegistry;

use super::error::{Cause, OnnxError, Site, UnsupportedOp};
use super::load::is_default_domain;
use super::proto::{GraphProto, NodeProto};

/// The display name of node `index`: its name, or `OpType_index` when it has none.
pub fn node_name(node: &NodeProto, index: usize) -> String {
    match node.name() {
        "" => format!("{}_{index}", node.op_type()),
        n => n.to_string(),
    }
}

pub fn node_site(node: &NodeProto, index: usize) -> Site {
    Site::Node {
        index,
        name: node_name(node, index),
        op_type: node.op_type().to_string(),
    }
}

/// The IR op name of a node, when its domain is the default one.
pub fn ir_op_name(node: &NodeProto) -> Option<String> {
    is_default_domain(node.domain()).then(|| format!("onnx.{}", node.op_type()))
}

/// One error listing every operator type the registry lacks, with the first node using it.
pub fn check_supported(graph: &GraphProto, registry: &DialectRegistry) -> Result<(), OnnxError> {
    let mut missing: BTreeMap<String, UnsupportedOp> = BTreeMap::new();
    for (index, node) in graph.node.iter().enumerate() {
        if node.op_type().is_empty() {
            return Err(OnnxError::at(node_site(node, index), Cause::NoOpType));
        }
        let known = ir_op_name(node)
            .is_some_and(|n| node.op_type() != "NoValue" && registry.lookup(&n).is_some());
        if known {
            continue;
        }
        let key = if is_default_domain(node.domain()) {
            node.op_type().to_string()
        } else {
            format!("{}.{}", node.domain(), node.op_type())
        };
        missing
            .entry(key.clone())
            .or_insert_with(|| UnsupportedOp {
                op_type: key,
                first_node: index,
                first_name: node_name(node, index),
                count: 0,
            })
            .count += 1;
    }
    if missing.is_empty() {
        return Ok(());
    }
    let mut ops: Vec<UnsupportedOp> = missing.into_values().collect();
    ops.sort_by_key(|u| u.first_node);
    Err(OnnxError::Unsupported(ops))
}

/// A topological order of the nodes (stable: the file's order when it already is one).
/// `defined` holds the names available before any node runs (graph inputs, initializers).
pub fn topo_order(graph: &GraphProto, defined: &BTreeSet<&str>) -> Result<Vec<usize>, OnnxError> {
    let nodes = &graph.node;
    let mut producer: HashMap<&str, usize> = HashMap::with_capacity(nodes.len() * 2);
    for (index, node) in nodes.iter().enumerate() {
        for out in node.output.iter().filter(|o| !o.is_empty()) {
            if defined.contains(out.as_str()) || producer.insert(out, index).is_some() {
                return Err(OnnxError::at(
                    node_site(node, index),
                    Cause::Redefined(out.clone()),
                ));
            }
        }
    }
    // deps[i]: producers node i waits for; users[j]: nodes waiting for node j.
    let mut deps: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); nodes.len()];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (index, node) in nodes.iter().enumerate() {
        for input in node.input.iter().filter(|i| !i.is_empty()) {
            match producer.get(input.as_str()) {
                Some(&p) => {
                    if deps[index].insert(p) {
                        users[p].push(index);
                    }
                }
                None if defined.contains(input.as_str()) => {}
                None => {
                    return Err(OnnxError::at(
                        node_site(node, index),
                        Cause::NoProducer(input.clone()),
                    ));
                }
            }
        }
    }
    let mut waiting: Vec<usize> = deps.iter().map(BTreeSet::len).collect();
    let mut ready: BTreeSet<usize> = (0..nodes.len()).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &u in &users[i] {
            waiting[u] -= 1;
            if waiting[u] == 0 {
                ready.insert(u);
            }
        }
    }
    if order.len() < nodes.len() {
        return Err(cycle_error(graph, &deps, &waiting));
    }
    Ok(order)
}

/// Walk unfinished dependencies from the first stuck node until a node repeats: that is a cycle.
fn cycle_error(graph: &GraphProto, deps: &[BTreeSet<usize>], waiting: &[usize]) -> OnnxError {
    let start = waiting.iter().position(|&w| w > 0).unwrap_or(0);
    let mut path = vec![start];
    let mut cur = start;
    while let Some(&next) = deps[cur].iter().find(|&&d| waiting[d] > 0) {
        if let Some(pos) = path.iter().position(|&p| p == next) {
            path.drain(..pos);
            path.push(next);
            break;
        }
        path.push(next);
        cur = next;
    }
    let first = path[0];
    let nodes = path
        .iter()
        .map(|&i| (i, node_name(&graph.node[i], i)))
        .collect();
    OnnxError::at(node_site(&graph.node[first], first), Cause::Cycle(nodes))
}
