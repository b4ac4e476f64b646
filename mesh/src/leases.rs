//! Path leases: which team owns which paths of a shared host, and what a new path collides with.
//!
//! One [`PathLeases`] holds the leases of one (environment, host). It is a trie over path
//! segments, so a query walks the new path's segments once: its cost grows with the depth of the
//! path, not with the number of leases (counters of the owners below each node answer "does
//! anything of another team lie under this prefix?" without visiting the subtree).
//!
//! Semantics, exactly (`P` is the leased path; see [`PathPrefix`] for the path grammar):
//! - `exact P` serves the request path `P` and nothing else; `/a` and `/a/` are different paths.
//! - `prefix P` without a trailing slash serves `P` and every path starting with `P/`, so
//!   `/orders` serves `/orders`, `/orders/`, `/orders/v1`, but not `/ordersx`.
//! - `prefix P/` (trailing slash) serves every path starting with `P/`, including `P/`, but
//!   not `P`. `prefix /` serves every path.
//!
//! Two leases either do not overlap, or one's set of paths contains the other's. For a new lease
//! against an existing one, the [`Overlap`] is `Equal` (same paths), `Shadows` (the new lease
//! would take over paths the existing one serves) or `FallsUnder` (the existing lease already
//! serves all of the new lease's paths). A lease of the same team may nest inside or around its
//! own leases (the more specific one is routed first); any overlap with another team's lease and
//! any `Equal` lease is a conflict.
//!
//! Routing order ([`PathLeases::in_routing_order`], used for the root VirtualService) is the most
//! specific first: deeper paths first (a trailing slash counts as a segment for `exact`); at
//! equal depth `exact` before `prefix P/` before `prefix P`; then by path text. Leases at equal
//! depth never overlap unless they share the node, so this order is correct for Envoy's
//! first-match routing and stable. [`PathLeases::serving`] answers which lease a request path would
//! reach under that order.

use std::collections::BTreeMap;

use crate::names::{DnsLabel, PathPrefix};
use crate::request::PathMatch;

/// How a new lease relates to an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Overlap {
    /// Both serve exactly the same paths.
    Equal,
    /// The new lease serves every path the existing one serves, and more.
    Shadows,
    /// The existing lease already serves every path of the new one.
    FallsUnder,
}

/// One lease: a path, how it matches, the owning team, and the caller's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease<V> {
    /// The leased path.
    pub path: PathPrefix,
    /// Exact or prefix.
    pub path_match: PathMatch,
    /// The owning team.
    pub owner: DnsLabel,
    /// Whatever the caller attached (a request id, an index).
    pub value: V,
}

/// An existing lease a new one overlaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overlapping<'a, V> {
    /// How the new lease relates to the existing one.
    pub overlap: Overlap,
    /// The existing lease.
    pub lease: &'a Lease<V>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// `exact P`: the node itself.
    Exact,
    /// `prefix P/`: the node's strict descendants.
    Below,
    /// `prefix P`: the node and its descendants.
    Subtree,
}

#[derive(Debug, Clone)]
struct Node<V> {
    children: BTreeMap<String, Node<V>>,
    exact: Option<Lease<V>>,
    below: Option<Lease<V>>,
    subtree: Option<Lease<V>>,
    /// Leases stored in strict descendants of this node, counted per owner.
    owners_below: BTreeMap<DnsLabel, u32>,
}

impl<V> Default for Node<V> {
    fn default() -> Self {
        Self {
            children: BTreeMap::new(),
            exact: None,
            below: None,
            subtree: None,
            owners_below: BTreeMap::new(),
        }
    }
}

impl<V> Node<V> {
    fn slot(&self, slot: Slot) -> Option<&Lease<V>> {
        match slot {
            Slot::Exact => self.exact.as_ref(),
            Slot::Below => self.below.as_ref(),
            Slot::Subtree => self.subtree.as_ref(),
        }
    }

    fn slot_mut(&mut self, slot: Slot) -> &mut Option<Lease<V>> {
        match slot {
            Slot::Exact => &mut self.exact,
            Slot::Below => &mut self.below,
            Slot::Subtree => &mut self.subtree,
        }
    }

    fn own(&self) -> impl Iterator<Item = &Lease<V>> {
        [
            self.exact.as_ref(),
            self.below.as_ref(),
            self.subtree.as_ref(),
        ]
        .into_iter()
        .flatten()
    }

    fn holds_owner(&self, owner: &DnsLabel) -> bool {
        self.own().any(|l| &l.owner == owner) || self.owners_below.contains_key(owner)
    }
}

/// Where a lease lives in the trie: the node's segments and the slot.
fn locate(path: &PathPrefix, path_match: PathMatch) -> (Vec<&str>, Slot) {
    let mut segments: Vec<&str> = path.segments().collect();
    match path_match {
        PathMatch::Exact => (segments, Slot::Exact),
        PathMatch::Prefix if path.has_trailing_slash() => {
            segments.pop();
            (segments, Slot::Below)
        }
        PathMatch::Prefix => (segments, Slot::Subtree),
    }
}

/// The leases of one (environment, host).
#[derive(Debug, Clone)]
pub struct PathLeases<V> {
    root: Node<V>,
    len: usize,
}

impl<V> Default for PathLeases<V> {
    fn default() -> Self {
        Self {
            root: Node::default(),
            len: 0,
        }
    }
}

/// Why a lease was not inserted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseConflict {
    /// How the refused lease relates to the one in the way.
    pub overlap: Overlap,
    /// The path of the lease in the way.
    pub path: PathPrefix,
    /// Its match type.
    pub path_match: PathMatch,
    /// Its owner.
    pub owner: DnsLabel,
}

impl<V> PathLeases<V> {
    /// An empty set of leases.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many leases are held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no lease is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every existing lease the given path overlaps: the equal one, every lease it falls under,
    /// and, for what it would shadow, one witness per owner (the first in path order).
    pub fn overlapping(&self, path: &PathPrefix, path_match: PathMatch) -> Vec<Overlapping<'_, V>> {
        let (segments, slot) = locate(path, path_match);
        let mut found = Vec::new();
        let mut node = &self.root;
        for segment in &segments {
            for covering in [node.below.as_ref(), node.subtree.as_ref()]
                .into_iter()
                .flatten()
            {
                found.push(Overlapping {
                    overlap: Overlap::FallsUnder,
                    lease: covering,
                });
            }
            match node.children.get(*segment) {
                Some(child) => node = child,
                None => return found,
            }
        }
        found.extend(self.overlapping_at(node, slot));
        if slot != Slot::Exact {
            for owner in node.owners_below.keys() {
                if let Some(lease) = Self::witness_below(node, owner) {
                    found.push(Overlapping {
                        overlap: Overlap::Shadows,
                        lease,
                    });
                }
            }
        }
        found
    }

    /// The overlaps that refuse a new lease of `team`: any equal lease, and any overlap with a
    /// lease of another team. Cost: the path's depth, plus one descent for a shadowed witness.
    pub fn conflicts(
        &self,
        path: &PathPrefix,
        path_match: PathMatch,
        team: &DnsLabel,
    ) -> Vec<Overlapping<'_, V>> {
        let (segments, slot) = locate(path, path_match);
        let mut found = Vec::new();
        let mut node = &self.root;
        let refuses = |o: Overlap, l: &Lease<V>| o == Overlap::Equal || &l.owner != team;
        for segment in &segments {
            for covering in [node.below.as_ref(), node.subtree.as_ref()]
                .into_iter()
                .flatten()
            {
                if refuses(Overlap::FallsUnder, covering) {
                    found.push(Overlapping {
                        overlap: Overlap::FallsUnder,
                        lease: covering,
                    });
                }
            }
            match node.children.get(*segment) {
                Some(child) => node = child,
                None => return found,
            }
        }
        let all = self.overlapping_at(node, slot);
        found.extend(all.into_iter().filter(|o| refuses(o.overlap, o.lease)));
        if slot != Slot::Exact
            && let Some(other) = node.owners_below.keys().find(|o| *o != team)
            && let Some(lease) = Self::witness_below(node, other)
        {
            found.push(Overlapping {
                overlap: Overlap::Shadows,
                lease,
            });
        }
        found
    }

    fn overlapping_at<'a>(&self, node: &'a Node<V>, slot: Slot) -> Vec<Overlapping<'a, V>> {
        let mut found = Vec::new();
        let pairs: [(Slot, Option<Overlap>); 3] = match slot {
            Slot::Exact => [
                (Slot::Exact, Some(Overlap::Equal)),
                (Slot::Below, None),
                (Slot::Subtree, Some(Overlap::FallsUnder)),
            ],
            Slot::Below => [
                (Slot::Exact, None),
                (Slot::Below, Some(Overlap::Equal)),
                (Slot::Subtree, Some(Overlap::FallsUnder)),
            ],
            Slot::Subtree => [
                (Slot::Exact, Some(Overlap::Shadows)),
                (Slot::Below, Some(Overlap::Shadows)),
                (Slot::Subtree, Some(Overlap::Equal)),
            ],
        };
        for (existing, overlap) in pairs {
            if let (Some(lease), Some(overlap)) = (node.slot(existing), overlap) {
                found.push(Overlapping { overlap, lease });
            }
        }
        found
    }

    /// The first lease of `owner` strictly below `node`, descending only where the counters say
    /// one exists.
    fn witness_below<'a>(node: &'a Node<V>, owner: &DnsLabel) -> Option<&'a Lease<V>> {
        let mut node = node;
        loop {
            let child = node.children.values().find(|c| c.holds_owner(owner))?;
            if let Some(lease) = child.own().find(|l| &l.owner == owner) {
                return Some(lease);
            }
            node = child;
        }
    }

    /// Adds a lease unless it conflicts (see [`PathLeases::conflicts`]); returns the first
    /// conflict otherwise.
    pub fn insert(
        &mut self,
        path: PathPrefix,
        path_match: PathMatch,
        owner: DnsLabel,
        value: V,
    ) -> Result<(), LeaseConflict> {
        if let Some(conflict) = self.conflicts(&path, path_match, &owner).first() {
            return Err(LeaseConflict {
                overlap: conflict.overlap,
                path: conflict.lease.path.clone(),
                path_match: conflict.lease.path_match,
                owner: conflict.lease.owner.clone(),
            });
        }
        let (segments, slot) = locate(&path, path_match);
        let segments: Vec<String> = segments.into_iter().map(str::to_owned).collect();
        let mut node = &mut self.root;
        for segment in segments {
            *node.owners_below.entry(owner.clone()).or_insert(0) += 1;
            node = node.children.entry(segment).or_default();
        }
        *node.slot_mut(slot) = Some(Lease {
            path,
            path_match,
            owner,
            value,
        });
        self.len += 1;
        Ok(())
    }

    /// Removes a lease (a withdrawn claim, a decommissioned route); returns its value.
    pub fn remove(&mut self, path: &PathPrefix, path_match: PathMatch) -> Option<V> {
        let (segments, slot) = locate(path, path_match);
        let owner = {
            let mut node = &self.root;
            for segment in &segments {
                node = node.children.get(*segment)?;
            }
            node.slot(slot)?.owner.clone()
        };
        let mut node = &mut self.root;
        for segment in &segments {
            if let Some(count) = node.owners_below.get_mut(&owner) {
                *count -= 1;
                if *count == 0 {
                    node.owners_below.remove(&owner);
                }
            }
            node = node.children.get_mut(*segment)?;
        }
        let lease = node.slot_mut(slot).take()?;
        self.len -= 1;
        Some(lease.value)
    }

    /// The lease that serves a request path (`/orders/v1/items?x=1`), taking the most specific
    /// lease as the root VirtualService would. The query and fragment are ignored.
    pub fn serving(&self, request_path: &str) -> Option<&Lease<V>> {
        let path = request_path.split(['?', '#']).next().unwrap_or("");
        let rest = path.strip_prefix('/')?;
        let segments: Vec<&str> = rest.split('/').collect();
        let mut best = None;
        let mut node = &self.root;
        for segment in &segments {
            if let Some(lease) = node.below.as_ref().or(node.subtree.as_ref()) {
                best = Some(lease);
            }
            match node.children.get(*segment) {
                Some(child) => node = child,
                None => return best,
            }
        }
        node.exact.as_ref().or(node.subtree.as_ref()).or(best)
    }

    /// Every lease, most specific first (the root VirtualService's rule order).
    pub fn in_routing_order(&self) -> Vec<&Lease<V>> {
        let mut all: Vec<(usize, u8, &Lease<V>)> = Vec::with_capacity(self.len);
        let mut stack = vec![(0usize, &self.root)];
        while let Some((depth, node)) = stack.pop() {
            for (rank, lease) in [(0u8, &node.exact), (1, &node.below), (2, &node.subtree)] {
                if let Some(lease) = lease {
                    all.push((depth, rank, lease));
                }
            }
            stack.extend(node.children.values().map(|c| (depth + 1, c)));
        }
        all.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then(a.1.cmp(&b.1))
                .then_with(|| a.2.path.cmp(&b.2.path))
        });
        all.into_iter().map(|(_, _, l)| l).collect()
    }
}

/// Whether a lease serves a request path, by string comparison: the reference semantics the trie
/// must agree with, and the linear scan the benchmark compares against.
pub fn serves(path: &PathPrefix, path_match: PathMatch, request_path: &str) -> bool {
    let p = path.as_str();
    match path_match {
        PathMatch::Exact => request_path == p,
        PathMatch::Prefix if path.has_trailing_slash() => request_path.starts_with(p),
        PathMatch::Prefix => {
            request_path == p
                || (request_path.len() > p.len()
                    && request_path.starts_with(p)
                    && request_path.as_bytes()[p.len()] == b'/')
        }
    }
}

/// How a new lease relates to an existing one, by string comparison (see the module docs).
pub fn relation(
    new_path: &PathPrefix,
    new_match: PathMatch,
    existing_path: &PathPrefix,
    existing_match: PathMatch,
) -> Option<Overlap> {
    if new_path == existing_path && new_match == existing_match {
        return Some(Overlap::Equal);
    }
    // A prefix set is closed under extension, so it contains another lease's set exactly when it
    // contains that lease's shortest path; an exact set contains only itself.
    let contains = |outer: (&PathPrefix, PathMatch), inner: (&PathPrefix, PathMatch)| match inner.1
    {
        PathMatch::Exact => serves(outer.0, outer.1, inner.0.as_str()),
        PathMatch::Prefix => {
            outer.1 == PathMatch::Prefix && serves(outer.0, outer.1, inner.0.as_str())
        }
    };
    if contains((existing_path, existing_match), (new_path, new_match)) {
        Some(Overlap::FallsUnder)
    } else if contains((new_path, new_match), (existing_path, existing_match)) {
        Some(Overlap::Shadows)
    } else {
        None
    }
}
