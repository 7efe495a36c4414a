//! `chatport validate` and `chatport stats`.

use crate::Outcome;
use clap::Args;
use std::path::PathBuf;

/// Flags of `chatport validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The canonical directory (output of `chatport extract`).
    pub dir: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `chatport stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The canonical directory (output of `chatport extract`).
    pub dir: PathBuf,
    /// Print JSON (one array of per-conversation objects) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `validate`: exit 0 only when clean.
pub fn validate(a: ValidateArgs) -> anyhow::Result<Outcome> {
    if !a.dir.is_dir() {
        anyhow::bail!("{}: not a directory", a.dir.display());
    }
    let v = chatport_model::inspect::validate(&a.dir);
    if a.json {
        let out = serde_json::json!({"clean": v.is_clean(), "problems": v.problems, "counts": v.counts});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if v.is_clean() {
        let c = &v.counts;
        println!(
            "{}: clean ({} users, {} conversations, {} messages, {} files)",
            a.dir.display(),
            c.users,
            c.conversations,
            c.messages,
            c.files
        );
    } else {
        for p in v.problems.iter().take(200) {
            println!("{p}");
        }
        if v.problems.len() > 200 {
            println!("… and {} more", v.problems.len() - 200);
        }
        println!("{}: {} problem(s)", a.dir.display(), v.problems.len());
    }
    Ok(if v.is_clean() { Outcome::Clean } else { Outcome::Problems })
}

/// Runs `stats`.
pub fn stats(a: StatsArgs) -> anyhow::Result<Outcome> {
    let rows = chatport_model::inspect::stats(&a.dir)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(Outcome::Clean);
    }
    println!(
        "{:<14} {:<16} {:<24} {:>9} {:>8} {:>9} {:>6} {:>8}",
        "id", "kind", "name", "messages", "replies", "reactions", "files", "members"
    );
    let mut total = [0u64; 5];
    for r in &rows {
        let name: String = r.name.clone().unwrap_or_default().chars().take(24).collect();
        println!(
            "{:<14} {:<16} {:<24} {:>9} {:>8} {:>9} {:>6} {:>8}",
            r.id, r.kind, name, r.messages, r.replies, r.reactions, r.files, r.members
        );
        for (t, v) in total.iter_mut().zip([r.messages, r.replies, r.reactions, r.files, r.members]) {
            *t += v;
        }
    }
    println!(
        "{:<14} {:<16} {:<24} {:>9} {:>8} {:>9} {:>6} {:>8}",
        "total",
        format!("{} conv.", rows.len()),
        "",
        total[0],
        total[1],
        total[2],
        total[3],
        total[4]
    );
    Ok(Outcome::Clean)
}
