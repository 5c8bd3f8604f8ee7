//! Problems that span items: duplicate keys, and prerequisite or segment references that form a
//! cycle.

use rustc_hash::{FxHashMap, FxHashSet};

use super::Problem;
use crate::model::{Condition, Operator, Segment};

pub(super) fn note_duplicates<'a>(
    keys: impl Iterator<Item = &'a String>,
    what: &str,
    problems: &mut Vec<Problem>,
) {
    let mut seen = FxHashSet::default();
    for key in keys {
        if !seen.insert(key) {
            problems.push(Problem {
                field: format!("{what}[{key}]"),
                message: format!("duplicate key `{key}`"),
                malformed: false,
            });
        }
    }
}

pub(super) fn segment_references(
    segments: &[Segment],
    index: &FxHashMap<&str, usize>,
) -> Vec<Vec<usize>> {
    fn walk(cond: &Condition, index: &FxHashMap<&str, usize>, out: &mut Vec<usize>) {
        match cond {
            Condition::All(cs) | Condition::Any(cs) => cs.iter().for_each(|c| walk(c, index, out)),
            Condition::Not(c) => walk(c, index, out),
            Condition::Percentage(_) => {}
            Condition::Clause(clause) if clause.op == Operator::SegmentMatch => out.extend(
                clause
                    .values
                    .iter()
                    .filter_map(|v| v.as_str().and_then(|k| index.get(k).copied())),
            ),
            Condition::Clause(_) => {}
        }
    }
    segments
        .iter()
        .map(|s| {
            let mut out = Vec::new();
            s.rules
                .iter()
                .for_each(|r| walk(&r.condition, index, &mut out));
            out
        })
        .collect()
}

/// Nodes that lie on a cycle of `graph` (adjacency lists), found by iterative colouring DFS.
pub(super) fn cycles(graph: &[Vec<usize>]) -> Vec<usize> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; graph.len()];
    let mut on_cycle = vec![false; graph.len()];
    for root in 0..graph.len() {
        if mark[root] != Mark::New {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::Open;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&child) = graph[node].get(*next) {
                *next += 1;
                match mark[child] {
                    Mark::New => {
                        mark[child] = Mark::Open;
                        stack.push((child, 0));
                    }
                    Mark::Open => {
                        // Everything on the stack from `child` up is on this cycle.
                        let from = stack.iter().position(|&(n, _)| n == child).unwrap_or(0);
                        stack[from..].iter().for_each(|&(n, _)| on_cycle[n] = true);
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                stack.pop();
            }
        }
    }
    (0..graph.len()).filter(|&n| on_cycle[n]).collect()
}
