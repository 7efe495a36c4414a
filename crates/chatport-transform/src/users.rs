//! User mapping: which destination identity each source user gets, and what to do with
//! users that cannot post as themselves.
//!
//! `chatport users` writes a CSV template prefilled from the canonical users (target =
//! e-mail, optionally with the domain rewritten); an admin edits it; `transform --users`
//! reads it back. Without a file the same defaults apply. This module owns the CSV format
//! and the default policy per kind of user; it does no planning.

use chatport_model::User;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// What kind of source user a row describes (drives the default action).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserKind {
    /// A regular member of the workspace.
    Member,
    /// A multi- or single-channel guest.
    Guest,
    /// A user of another organisation (Slack Connect).
    External,
    /// A deactivated account.
    Deactivated,
    /// A bot or app.
    Bot,
    /// Referenced by the export but not described in it.
    Unknown,
}

/// What to do with a user's messages and reactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserAction {
    /// Post as the user (Chat: impersonate `target`; Teams: `from` = `target`).
    Author,
    /// Post as the migration app (Chat) or the fallback account (Teams), with an
    /// attribution line naming the user. Their reactions cannot be carried.
    App,
    /// Do not carry their messages or reactions (each is reported).
    Skip,
}

/// One row of the mapping CSV.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingRow {
    /// Source user id.
    pub source_id: String,
    /// Handle.
    pub name: String,
    /// Display name used in attributions and text mentions.
    pub display_name: String,
    /// Source e-mail.
    pub email: String,
    /// Kind of user.
    pub kind: UserKind,
    /// Destination identity: Chat, an e-mail of the Workspace domain; Teams, the AAD object
    /// id (a UPN is accepted where the destination resolves it).
    pub target: String,
    /// What to do.
    pub action: UserAction,
}

/// Errors reading a mapping file.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    /// The file cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A row is not valid.
    #[error("{path}: line {line}: {detail}")]
    Row {
        /// The file.
        path: String,
        /// One-based line number.
        line: u64,
        /// What is wrong.
        detail: String,
    },
}

/// Classifies a canonical user.
pub fn kind_of(u: &User, home_team: Option<&str>) -> UserKind {
    if u.placeholder {
        UserKind::Unknown
    } else if u.is_bot {
        UserKind::Bot
    } else if u.deleted {
        UserKind::Deactivated
    } else if home_team.is_some() && u.team_id.is_some() && u.team_id.as_deref() != home_team {
        UserKind::External
    } else if u.restricted || u.ultra_restricted {
        UserKind::Guest
    } else {
        UserKind::Member
    }
}

/// The most common team id among users: the export's own workspace.
pub fn home_team(users: &[User]) -> Option<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for u in users {
        if let Some(t) = &u.team_id {
            *counts.entry(t).or_default() += 1;
        }
    }
    counts.into_iter().max_by_key(|(t, n)| (*n, std::cmp::Reverse(*t))).map(|(t, _)| t.to_owned())
}

/// A `--domain-rewrite old=new` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainRewrite {
    /// Source domain.
    pub from: String,
    /// Destination domain.
    pub to: String,
}

impl std::str::FromStr for DomainRewrite {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, b) = s.split_once('=').ok_or_else(|| format!("{s:?}: expected old.example=new.example"))?;
        if a.is_empty() || b.is_empty() {
            return Err(format!("{s:?}: both domains are required"));
        }
        Ok(DomainRewrite { from: a.to_ascii_lowercase(), to: b.to_ascii_lowercase() })
    }
}

fn rewrite(email: &str, rules: &[DomainRewrite]) -> String {
    let email = email.trim().to_ascii_lowercase();
    if let Some((local, domain)) = email.split_once('@') {
        if let Some(r) = rules.iter().find(|r| r.from == domain) {
            return format!("{local}@{}", r.to);
        }
    }
    email
}

/// The best name to show for a user.
pub fn display_name(u: &User) -> String {
    [&u.display_name, &u.real_name, &u.name]
        .into_iter()
        .flatten()
        .find(|s| !s.is_empty())
        .cloned()
        .unwrap_or_else(|| u.id.clone())
}

/// The default mapping of every canonical user, sorted by id.
pub fn template(users: &[User], rules: &[DomainRewrite]) -> Vec<MappingRow> {
    let home = home_team(users);
    let mut rows: Vec<MappingRow> = users
        .iter()
        .map(|u| {
            let kind = kind_of(u, home.as_deref());
            let email = u.email.clone().unwrap_or_default();
            let target = if email.is_empty() { String::new() } else { rewrite(&email, rules) };
            let action = match kind {
                UserKind::Member | UserKind::Guest if !target.is_empty() => UserAction::Author,
                _ => UserAction::App,
            };
            MappingRow {
                source_id: u.id.clone(),
                name: u.name.clone().unwrap_or_default(),
                display_name: display_name(u),
                email,
                kind,
                target,
                action,
            }
        })
        .collect();
    rows.sort_by(|a, b| a.source_id.cmp(&b.source_id));
    rows
}

/// Writes rows as CSV with a header.
pub fn write_csv(path: &Path, rows: &[MappingRow]) -> Result<(), MappingError> {
    let io = |e: std::io::Error| MappingError::Io { path: path.display().to_string(), source: e };
    let mut w = csv::Writer::from_path(path).map_err(|e| io(e.into()))?;
    for r in rows {
        w.serialize(r).map_err(|e| io(e.into()))?;
    }
    w.flush().map_err(io)
}

/// Reads a mapping CSV; every bad row is an error naming its line.
pub fn read_csv(path: &Path) -> Result<Vec<MappingRow>, MappingError> {
    let p = path.display().to_string();
    let mut r =
        csv::Reader::from_path(path).map_err(|e| MappingError::Io { path: p.clone(), source: e.into() })?;
    let mut rows = Vec::new();
    for (i, row) in r.deserialize::<MappingRow>().enumerate() {
        let row = row.map_err(|e| MappingError::Row {
            path: p.clone(),
            line: i as u64 + 2,
            detail: e.to_string(),
        })?;
        if row.action == UserAction::Author && row.target.trim().is_empty() {
            return Err(MappingError::Row {
                path: p.clone(),
                line: i as u64 + 2,
                detail: format!("user {} has action `author` but no target", row.source_id),
            });
        }
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, email: Option<&str>) -> User {
        User { id: id.into(), email: email.map(Into::into), team_id: Some("T1".into()), ..Default::default() }
    }

    #[test]
    fn template_defaults_and_rewrite() {
        let mut bot = user("B", None);
        bot.is_bot = true;
        let mut gone = user("D", Some("d@old.example"));
        gone.deleted = true;
        let mut ext = user("E", Some("e@partner.example"));
        ext.team_id = Some("T2".into());
        let users = vec![user("A", Some("A@Old.Example")), bot, gone, ext];
        let rows = template(&users, &["old.example=new.example".parse().unwrap()]);
        assert_eq!(rows[0].target, "a@new.example");
        assert_eq!(rows[0].action, UserAction::Author);
        assert_eq!((rows[1].kind, rows[1].action), (UserKind::Bot, UserAction::App));
        assert_eq!((rows[2].kind, rows[2].action), (UserKind::Deactivated, UserAction::App));
        assert_eq!((rows[3].kind, rows[3].action), (UserKind::External, UserAction::App));
    }

    #[test]
    fn csv_round_trip_and_bad_rows() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("u.csv");
        let rows = template(&[user("A", Some("a@x.example"))], &[]);
        write_csv(&p, &rows).unwrap();
        assert_eq!(read_csv(&p).unwrap(), rows);
        std::fs::write(&p, "source_id,name,display_name,email,kind,target,action\nA,a,A,,member,,author\n")
            .unwrap();
        let err = read_csv(&p).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("no target"), "{err}");
        std::fs::write(&p, "source_id,name,display_name,email,kind,target,action\nA,a,A,,member,x,maybe\n")
            .unwrap();
        assert!(read_csv(&p).unwrap_err().to_string().contains("line 2"));
    }
}
