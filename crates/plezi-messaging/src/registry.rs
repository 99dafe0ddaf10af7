//! The bus's record of this server's local connections: channel subscriptions (exact and pattern),
//! identity registrations, and how many members each controller type has here. Both engines use it to
//! turn a target into a concrete list of local connections; the Redis engine subscribes on its first and
//! last changes.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use crate::glob::glob_match;
use crate::uuid::ConnectionUuid;

/// A named-channel subscription of one connection.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Subscription {
    Exact(String),
    Pattern(String),
}

#[derive(Default)]
struct ConnectionEntry {
    subscriptions: HashSet<Subscription>,
    identities: HashSet<String>,
}

/// Live local connections of one identity.
pub(crate) struct IdentityEntry {
    pub connections: BTreeSet<ConnectionUuid>,
    pub lifespan: Duration,
}

/// What changed for this server as a whole (the Redis engine subscribes/unsubscribes on these).
#[derive(PartialEq, Eq, Debug)]
pub(crate) enum Change {
    None,
    /// The first local subscriber of a channel or pattern appeared.
    Added,
    /// The last local subscriber left.
    Removed,
}

#[derive(Default)]
pub(crate) struct Registry {
    exact: HashMap<String, BTreeSet<ConnectionUuid>>,
    patterns: HashMap<String, BTreeSet<ConnectionUuid>>,
    identities: HashMap<String, IdentityEntry>,
    connections: HashMap<ConnectionUuid, ConnectionEntry>,
    /// Local members per controller type (open connections that joined it).
    controllers: HashMap<String, usize>,
}

impl Registry {
    pub fn subscribe(&mut self, conn: ConnectionUuid, sub: Subscription) -> Change {
        let entry = self.connections.entry(conn).or_default();
        if !entry.subscriptions.insert(sub.clone()) {
            return Change::None;
        }
        let (map, name) = self.map_for(sub);
        let set = map.entry(name).or_default();
        set.insert(conn);
        if set.len() == 1 {
            Change::Added
        } else {
            Change::None
        }
    }

    pub fn unsubscribe(&mut self, conn: ConnectionUuid, sub: &Subscription) -> Change {
        let Some(entry) = self.connections.get_mut(&conn) else {
            return Change::None;
        };
        if !entry.subscriptions.remove(sub) {
            return Change::None;
        }
        self.drop_connection_if_empty(conn);
        let (map, name) = self.map_for(sub.clone());
        let Some(set) = map.get_mut(&name) else {
            return Change::None;
        };
        set.remove(&conn);
        if set.is_empty() {
            map.remove(&name);
            Change::Removed
        } else {
            Change::None
        }
    }

    /// One more local member of controller type `name`.
    pub fn join_controller(&mut self, name: &str) -> Change {
        let n = self.controllers.entry(name.to_owned()).or_default();
        *n += 1;
        if *n == 1 { Change::Added } else { Change::None }
    }

    /// One local member of controller type `name` less.
    pub fn leave_controller(&mut self, name: &str) -> Change {
        let Some(n) = self.controllers.get_mut(name) else {
            return Change::None;
        };
        *n -= 1;
        if *n == 0 {
            self.controllers.remove(name);
            Change::Removed
        } else {
            Change::None
        }
    }

    /// Registers `conn` as `identity`; true if it is the identity's first live local connection.
    pub fn register(&mut self, identity: &str, conn: ConnectionUuid, lifespan: Duration) -> bool {
        self.connections
            .entry(conn)
            .or_default()
            .identities
            .insert(identity.to_owned());
        let entry = self
            .identities
            .entry(identity.to_owned())
            .or_insert_with(|| IdentityEntry {
                connections: BTreeSet::new(),
                lifespan,
            });
        entry.lifespan = lifespan;
        entry.connections.insert(conn);
        entry.connections.len() == 1
    }

    /// Unregisters; true if that was the identity's last live local connection.
    pub fn unregister(&mut self, identity: &str, conn: ConnectionUuid) -> bool {
        if let Some(entry) = self.connections.get_mut(&conn) {
            entry.identities.remove(identity);
            self.drop_connection_if_empty(conn);
        }
        let Some(entry) = self.identities.get_mut(identity) else {
            return false;
        };
        if !entry.connections.remove(&conn) {
            return false;
        }
        if entry.connections.is_empty() {
            self.identities.remove(identity);
            true
        } else {
            false
        }
    }

    /// Forgets a closed connection. Returns the channel changes and the identities it was the last of.
    pub fn forget(&mut self, conn: ConnectionUuid) -> (Vec<Subscription>, Vec<String>) {
        let Some(entry) = self.connections.remove(&conn) else {
            return (Vec::new(), Vec::new());
        };
        let mut removed = Vec::new();
        for sub in entry.subscriptions {
            let (map, name) = self.map_for(sub.clone());
            if let Some(set) = map.get_mut(&name) {
                set.remove(&conn);
                if set.is_empty() {
                    map.remove(&name);
                    removed.push(sub);
                }
            }
        }
        let mut last_of = Vec::new();
        for identity in entry.identities {
            if let Some(e) = self.identities.get_mut(&identity) {
                e.connections.remove(&conn);
                if e.connections.is_empty() {
                    self.identities.remove(&identity);
                    last_of.push(identity);
                }
            }
        }
        (removed, last_of)
    }

    /// Local subscribers of channel `name` (exact or by pattern), without `except`.
    pub fn channel_recipients(
        &self,
        name: &str,
        except: Option<ConnectionUuid>,
    ) -> Vec<ConnectionUuid> {
        let mut out: BTreeSet<ConnectionUuid> = self.exact.get(name).cloned().unwrap_or_default();
        for (pattern, conns) in &self.patterns {
            if glob_match(pattern, name) {
                out.extend(conns.iter().copied());
            }
        }
        if let Some(x) = except {
            out.remove(&x);
        }
        out.into_iter().collect()
    }

    /// Live local connections of `identity`, without `except`.
    pub fn identity_recipients(
        &self,
        identity: &str,
        except: Option<ConnectionUuid>,
    ) -> Vec<ConnectionUuid> {
        self.identities
            .get(identity)
            .map(|e| {
                e.connections
                    .iter()
                    .copied()
                    .filter(|c| Some(*c) != except)
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn identity(&self, identity: &str) -> Option<&IdentityEntry> {
        self.identities.get(identity)
    }

    /// Every identity with live local connections.
    pub fn identities(&self) -> impl Iterator<Item = &String> {
        self.identities.keys()
    }

    fn map_for(
        &mut self,
        sub: Subscription,
    ) -> (&mut HashMap<String, BTreeSet<ConnectionUuid>>, String) {
        match sub {
            Subscription::Exact(n) => (&mut self.exact, n),
            Subscription::Pattern(p) => (&mut self.patterns, p),
        }
    }

    fn drop_connection_if_empty(&mut self, conn: ConnectionUuid) {
        if let Some(e) = self.connections.get(&conn)
            && e.subscriptions.is_empty()
            && e.identities.is_empty()
        {
            self.connections.remove(&conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uuid::ServerId;

    fn c(n: u32) -> ConnectionUuid {
        ConnectionUuid::new(ServerId::from_u64(7), 0, n, 0)
    }

    #[test]
    fn exact_and_pattern_recipients_are_deduplicated() {
        let mut r = Registry::default();
        assert_eq!(
            r.subscribe(c(1), Subscription::Exact("news".into())),
            Change::Added
        );
        assert_eq!(
            r.subscribe(c(2), Subscription::Exact("news".into())),
            Change::None
        );
        assert_eq!(
            r.subscribe(c(1), Subscription::Pattern("n*".into())),
            Change::Added
        );
        assert_eq!(
            r.subscribe(c(3), Subscription::Pattern("x*".into())),
            Change::Added
        );
        assert_eq!(r.channel_recipients("news", None), vec![c(1), c(2)]);
        assert_eq!(r.channel_recipients("news", Some(c(1))), vec![c(2)]);
        assert_eq!(r.channel_recipients("xy", None), vec![c(3)]);
        assert_eq!(
            r.unsubscribe(c(2), &Subscription::Exact("news".into())),
            Change::None
        );
        assert_eq!(
            r.unsubscribe(c(1), &Subscription::Exact("news".into())),
            Change::Removed
        );
        assert_eq!(r.channel_recipients("news", None), vec![c(1)]);
        let (removed, _) = r.forget(c(1));
        assert_eq!(removed, vec![Subscription::Pattern("n*".into())]);
        assert!(r.channel_recipients("news", None).is_empty());
    }

    #[test]
    fn controller_members_are_counted() {
        let mut r = Registry::default();
        assert_eq!(r.join_controller("Chat"), Change::Added);
        assert_eq!(r.join_controller("Chat"), Change::None);
        assert_eq!(r.leave_controller("Chat"), Change::None);
        assert_eq!(r.leave_controller("Chat"), Change::Removed);
        assert_eq!(r.leave_controller("Chat"), Change::None, "never below zero");
        assert!(r.controllers.is_empty());
    }

    #[test]
    fn identities_track_first_and_last() {
        let mut r = Registry::default();
        let life = Duration::from_secs(5);
        assert!(r.register("u", c(1), life));
        assert!(!r.register("u", c(2), life));
        assert!(!r.unregister("u", c(1)));
        assert_eq!(r.identity_recipients("u", None), vec![c(2)]);
        let (_, last) = r.forget(c(2));
        assert_eq!(last, vec!["u".to_string()]);
        assert!(r.identity("u").is_none());
        assert!(r.connections.is_empty());
    }
}
