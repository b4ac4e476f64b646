//! Roles come from the groups the identity provider puts in the user's token, matched against
//! the configuration: a team's `groups` make its members requesters for it; an environment's
//! `approval.approverGroups` make approvers there; a team's `approverGroups` make approvers of
//! that team's requests; `auth.admin_groups` make platform admins.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::state::CatalogSource;

/// The group-to-role mapping, built once from the configuration.
#[derive(Debug, Clone, Default)]
pub struct AccessPolicy {
    admin_groups: BTreeSet<String>,
    /// (team, groups that request for it, groups that approve its requests)
    teams: Vec<(String, BTreeSet<String>, BTreeSet<String>)>,
    /// (environment, groups that approve in it)
    environments: Vec<(String, BTreeSet<String>)>,
}

impl AccessPolicy {
    pub fn new(source: &CatalogSource, admin_groups: &[String]) -> Self {
        Self {
            admin_groups: admin_groups.iter().cloned().collect(),
            teams: source
                .teams
                .iter()
                .map(|team| {
                    (
                        team.name.clone(),
                        team.groups.iter().cloned().collect(),
                        team.approver_groups.iter().cloned().collect(),
                    )
                })
                .collect(),
            environments: source
                .environments
                .iter()
                .map(|env| {
                    (
                        env.name.clone(),
                        env.approval.approver_groups.iter().cloned().collect(),
                    )
                })
                .collect(),
        }
    }

    /// What a member of `groups` may do.
    pub fn roles(&self, groups: &[String]) -> Roles {
        let member = |wanted: &BTreeSet<String>| groups.iter().any(|group| wanted.contains(group));
        let mut roles = Roles {
            platform_admin: member(&self.admin_groups),
            ..Roles::default()
        };
        for (team, requesters, approvers) in &self.teams {
            if member(requesters) {
                roles.requester_for.insert(team.clone());
            }
            if member(approvers) {
                roles.approver_for_teams.insert(team.clone());
            }
        }
        for (environment, approvers) in &self.environments {
            if member(approvers) {
                roles.approver_for_environments.insert(environment.clone());
            }
        }
        roles
    }
}

/// What one user may do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roles {
    /// Teams the user may submit requests for.
    pub requester_for: BTreeSet<String>,
    /// Environments in which the user may approve requests.
    pub approver_for_environments: BTreeSet<String>,
    /// Teams whose requests the user may approve.
    pub approver_for_teams: BTreeSet<String>,
    /// Administers the portal itself.
    pub platform_admin: bool,
}

impl Roles {
    /// A user with no role at all is signed in but has no business here yet.
    pub fn is_empty(&self) -> bool {
        self.requester_for.is_empty()
            && self.approver_for_environments.is_empty()
            && self.approver_for_teams.is_empty()
            && !self.platform_admin
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh::config::{EnvironmentConfig, TeamConfig};

    fn policy() -> AccessPolicy {
        let source: CatalogSource = CatalogSource {
            environments: vec![
                serde_json::from_value::<EnvironmentConfig>(serde_json::json!({
                    "name": "prod", "hosts": ["api.prod.example.com"],
                    "ingressGateway": "istio-ingress/public-gw",
                    "mesh": {"flavour": "istio", "version": "1.24"},
                    "egress": {"mode": "direct"},
                    "approval": {"approvalsRequired": 2, "approverGroups": ["platform-approvers"]}
                }))
                .expect("environment"),
            ],
            teams: vec![
                serde_json::from_value::<TeamConfig>(serde_json::json!({
                    "name": "team-a", "groups": ["team-a"], "namespaces": ["team-a"],
                    "approverGroups": ["team-a-leads"]
                }))
                .expect("team"),
            ],
        };
        AccessPolicy::new(&source, &["platform-admins".to_owned()])
    }

    #[test]
    fn team_members_request_for_their_team() {
        let roles = policy().roles(&["team-a".to_owned()]);
        assert!(roles.requester_for.contains("team-a"));
        assert!(roles.approver_for_environments.is_empty());
        assert!(!roles.platform_admin);
    }

    #[test]
    fn approver_groups_grant_environment_and_team_approval() {
        let roles = policy().roles(&["platform-approvers".to_owned(), "team-a-leads".to_owned()]);
        assert!(roles.approver_for_environments.contains("prod"));
        assert!(roles.approver_for_teams.contains("team-a"));
        assert!(roles.requester_for.is_empty());
    }

    #[test]
    fn admin_groups_make_platform_admins() {
        assert!(
            policy()
                .roles(&["platform-admins".to_owned()])
                .platform_admin
        );
    }

    #[test]
    fn a_user_in_no_configured_group_has_no_roles() {
        assert!(policy().roles(&["marketing".to_owned()]).is_empty());
    }
}
