//! Who may do what: token scopes (what a client may do at all) and production
//! roles (what a member may do in one production).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Invalid;

/// A token scope, as in the PodOps API (plus `admin` for operators).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Scope {
    #[serde(rename = "production:read")]
    ProductionRead,
    #[serde(rename = "production:write")]
    ProductionWrite,
    #[serde(rename = "production:build")]
    ProductionBuild,
    #[serde(rename = "resource:read")]
    ResourceRead,
    #[serde(rename = "resource:write")]
    ResourceWrite,
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::ProductionRead,
        Scope::ProductionWrite,
        Scope::ProductionBuild,
        Scope::ResourceRead,
        Scope::ResourceWrite,
        Scope::Admin,
    ];

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| Invalid::new("scopes", "scope.unknown", format!("unknown scope '{s}'")))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ProductionRead => "production:read",
            Scope::ProductionWrite => "production:write",
            Scope::ProductionBuild => "production:build",
            Scope::ResourceRead => "resource:read",
            Scope::ResourceWrite => "resource:write",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes, written as one space-separated string (OAuth's `scope` claim).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    pub fn new(mut scopes: Vec<Scope>) -> Self {
        scopes.sort();
        scopes.dedup();
        Self(scopes)
    }
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        s.split_whitespace().map(Scope::parse).collect::<Result<Vec<_>, _>>().map(Self::new)
    }
    /// `admin` implies every other scope: an operator token can do anything.
    pub fn allows(&self, scope: Scope) -> bool {
        self.0.contains(&Scope::Admin) || self.0.contains(&scope)
    }
    pub fn is_admin(&self) -> bool {
        self.0.contains(&Scope::Admin)
    }
    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|s| s.as_str()).collect();
        f.write_str(&names.join(" "))
    }
}

/// A member's role in one production.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    /// Runs the show without writing it: uploads, imports, builds and
    /// stream control, but no edits of shows, episodes or stream
    /// definitions, and no members.
    Operator,
    Editor,
    Owner,
}

impl Role {
    pub fn can_read(self) -> bool {
        true
    }
    pub fn can_operate(self) -> bool {
        self >= Role::Operator
    }
    pub fn can_write(self) -> bool {
        self >= Role::Editor
    }
    pub fn can_manage(self) -> bool {
        self == Role::Owner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_through_their_string_form() {
        let s = Scopes::parse("resource:write production:read resource:write").unwrap();
        assert_eq!(s.to_string(), "production:read resource:write");
        assert!(s.allows(Scope::ResourceWrite));
        assert!(!s.allows(Scope::ProductionWrite));
        assert_eq!(Scopes::parse("root").unwrap_err().code, "scope.unknown");
    }

    #[test]
    fn admin_implies_every_scope() {
        let s = Scopes::parse("admin").unwrap();
        assert!(Scope::ALL.iter().all(|&sc| s.allows(sc)));
    }

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(Role::Owner.can_manage() && Role::Owner.can_write());
        assert!(Role::Editor.can_write() && !Role::Editor.can_manage());
        assert!(!Role::Viewer.can_write() && Role::Viewer.can_read() && !Role::Viewer.can_operate());
        assert!(Role::Operator.can_operate() && !Role::Operator.can_write() && !Role::Operator.can_manage());
        assert!(Role::Editor.can_operate());
    }
}
