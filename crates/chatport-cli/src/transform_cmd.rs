//! `chatport users` (the mapping template) and `chatport transform` (canonical → plan).

use crate::Outcome;
use chatport_model::plan::Destination;
use chatport_transform::plan::custom_emoji::CustomEmojiPolicy;
use chatport_transform::plan::{DmPolicy, PlanOptions, PrivatePolicy};
use chatport_transform::users::{self, DomainRewrite};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// Flags of `chatport users`.
#[derive(Debug, Args)]
pub struct UsersArgs {
    /// The canonical directory (output of `chatport extract`).
    pub dir: PathBuf,
    /// Where to write the mapping CSV (source_id, name, display_name, email, kind, target,
    /// action). Edit `target` and `action`, then pass it to `transform --users`.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Rewrite e-mail domains when proposing targets, e.g. `old.example=new.example`
    /// (repeatable).
    #[arg(long, value_name = "OLD=NEW")]
    pub domain_rewrite: Vec<DomainRewrite>,
    /// The destination the mapping is for. With `teams`, the command says which rows still
    /// need an AAD object id: Teams names a message's author by object id (a GUID), so a
    /// row whose `target` is an e-mail posts through `--fallback-user` with an attribution
    /// line (its member adds accept the e-mail as a UPN).
    #[arg(long, value_enum)]
    pub to: Option<To>,
}

/// The destination of a plan.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum To {
    /// Google Chat (import mode).
    Chat,
    /// Microsoft Teams (migration mode).
    Teams,
}

/// Flags of `chatport transform`.
#[derive(Debug, Args)]
pub struct TransformArgs {
    /// The canonical directory (output of `chatport extract`).
    pub dir: PathBuf,
    /// The destination.
    #[arg(long, value_enum)]
    pub to: To,
    /// The plan directory to write (its previous plan files are replaced).
    #[arg(long, short)]
    pub out: PathBuf,
    /// The user mapping CSV (from `chatport users`); without it every user with an e-mail
    /// posts as that e-mail and everyone else as the app. Teams needs object ids as targets
    /// (see `chatport users --to teams`): e-mail targets post through `--fallback-user`.
    #[arg(long)]
    pub users: Option<PathBuf>,
    /// Only these conversations (ids or names, comma-separated), for pilot runs.
    #[arg(long, value_delimiter = ',')]
    pub channels: Vec<String>,
    /// Only messages at or after this time (`YYYY-MM-DD` or RFC 3339 UTC).
    #[arg(long)]
    pub since: Option<String>,
    /// Only messages before this time (`YYYY-MM-DD` or RFC 3339 UTC).
    #[arg(long)]
    pub until: Option<String>,
    /// Chat: the Workspace user (e-mail) who creates the spaces, imports memberships and
    /// completes the import (impersonated with the chat.import scope).
    #[arg(long)]
    pub importer: Option<String>,
    /// Chat: an e-mail domain of the Workspace (repeatable; the importer's domain always
    /// counts). Users whose target is outside these domains are external: their messages
    /// are posted by the app with an attribution line, the space allows external users and
    /// they are added after completion.
    #[arg(long = "domain", value_name = "DOMAIN")]
    pub domains: Vec<String>,
    /// Text put before every space (Chat) and team (Teams) name, which must be unique in
    /// the whole organisation (e.g. `"Slack: "`).
    #[arg(long, default_value = "")]
    pub name_prefix: String,
    /// Text put after every space and team name (e.g. `" (Slack)"`).
    #[arg(long, default_value = "")]
    pub name_suffix: String,
    /// Chat: 1:1 DMs cannot be imported as DMs: `space` carries each as a private space of
    /// the two participants, `skip` leaves them out (both reported).
    #[arg(long, default_value = "space")]
    pub dm_policy: DmPolicy,
    /// Teams: the name of the team that receives the public channels.
    #[arg(long, default_value = "Slack import")]
    pub team_name: String,
    /// Teams: private channels, group DMs and DMs go to a team of their own (`own-team`,
    /// members = the conversation's members) or are left out (`skip`).
    #[arg(long, default_value = "own-team")]
    pub private_policy: PrivatePolicy,
    /// Teams: the AAD object id of the account that posts for users without a mapping
    /// (with an attribution line).
    #[arg(long)]
    pub fallback_user: Option<String>,
    /// Teams: the largest image carried inline (hostedContents); larger ones are uploaded.
    #[arg(long, default_value_t = 4 << 20, value_name = "BYTES")]
    pub max_inline_image_bytes: u64,
    /// Teams: an owner of the migrated teams (repeatable): a source user id (mapped through
    /// --users) or a destination account (UPN or AAD object id). Added as owner of the
    /// workspace team, with the Slack owners and admins who have an account; an own team
    /// gets it only when none of its members can own it (reported).
    #[arg(long = "team-owner", value_name = "USER")]
    pub team_owners: Vec<String>,
    /// The source workspace's custom emoji: a folder of `<name>.<ext>` images (slackdump's
    /// emoji dump; its `index.json` is read too). Known names are reported as custom emoji.
    #[arg(long, value_name = "DIR")]
    pub custom_emoji: Option<PathBuf>,
    /// Custom emoji in message text: `text` keeps `:name:`; `image` puts the image inline in
    /// Teams (hostedContents, within --max-inline-image-bytes; the folder must be inside the
    /// canonical directory) and keeps `:name:` in Google Chat, which cannot (reported).
    #[arg(long, default_value = "text")]
    pub custom_emoji_policy: CustomEmojiPolicy,
    /// "Now" for the clamps (RFC 3339 UTC), for reproducible plans; default: the clock.
    #[arg(long)]
    pub now: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

fn time(flag: &str, s: &Option<String>) -> anyhow::Result<Option<i64>> {
    s.as_deref()
        .map(|v| {
            chatport_model::ts::parse_rfc3339(v)
                .ok_or_else(|| anyhow::anyhow!("--{flag} {v:?}: expected YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ"))
        })
        .transpose()
}

/// Runs `users`.
pub fn users(a: UsersArgs) -> anyhow::Result<Outcome> {
    let path = a.dir.join("users.jsonl");
    let list: Vec<chatport_model::User> =
        chatport_model::jsonl::read_jsonl(&path)?.collect::<Result<_, _>>()?;
    let rows = users::template(&list, &a.domain_rewrite);
    users::write_csv(&a.out, &rows)?;
    let authors = rows.iter().filter(|r| r.action == users::UserAction::Author).count();
    println!(
        "{}: {} users ({} post as themselves, {} as the app)",
        a.out.display(),
        rows.len(),
        authors,
        rows.len() - authors
    );
    if matches!(a.to, Some(To::Teams)) {
        let missing = rows
            .iter()
            .filter(|r| r.action == users::UserAction::Author)
            .filter(|r| !chatport_transform::plan::rules::is_guid(&r.target))
            .count();
        println!(
            "Teams: {missing} of {authors} authors have an e-mail, not an AAD object id, as target. Replace each \
             target with the user's Entra ID object id (a GUID, e.g. from `az ad user show --id <e-mail> \
             --query id`); until then their messages are posted by --fallback-user with an attribution line \
             (reported as author_not_aad_object_id)."
        );
    }
    Ok(Outcome::Clean)
}

/// Runs `transform`.
pub fn transform(a: TransformArgs) -> anyhow::Result<Outcome> {
    let destination = match a.to {
        To::Chat => Destination::Chat,
        To::Teams => Destination::Teams,
    };
    let now = match time("now", &a.now)? {
        Some(n) => n,
        None => {
            let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
            i64::try_from(d.as_micros())?
        }
    };
    let mut opts = PlanOptions::new(destination, now);
    opts.channels = a.channels;
    opts.since = time("since", &a.since)?;
    opts.until = time("until", &a.until)?;
    opts.importer = a.importer;
    opts.domains = a.domains;
    opts.name_prefix = a.name_prefix;
    opts.name_suffix = a.name_suffix;
    opts.dm_policy = a.dm_policy;
    opts.team_name = a.team_name;
    opts.private_policy = a.private_policy;
    opts.fallback_user = a.fallback_user;
    opts.max_inline_image_bytes = a.max_inline_image_bytes;
    opts.team_owners = a.team_owners;
    opts.custom_emoji = a.custom_emoji;
    opts.custom_emoji_policy = a.custom_emoji_policy;
    let mapping = a.users.as_deref().map(users::read_csv).transpose()?;
    let summary = chatport_transform::plan::transform(&a.dir, &a.out, opts, mapping)?;
    let c = &summary.manifest.counts;
    if a.json {
        let v = serde_json::json!({"out": a.out, "counts": c, "report_by_reason": summary.by_reason});
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(Outcome::Clean);
    }
    println!("planned {} → {} ({})", a.dir.display(), a.out.display(), destination.as_str());
    println!("  containers      {}", c.containers);
    println!("  operations      {}", c.operations);
    for (action, n) in &c.by_action {
        println!("    {action:<28} {n}");
    }
    println!(
        "  messages        {} considered: {} carried, {} dropped ({} outside the filters)",
        c.source_messages, c.messages_carried, c.messages_dropped, c.messages_filtered
    );
    println!("  report          {} entries (item outcome reason: count)", c.report_entries);
    for (reason, n) in &summary.by_reason {
        println!("    {reason:<52} {n}");
    }
    Ok(Outcome::Clean)
}
