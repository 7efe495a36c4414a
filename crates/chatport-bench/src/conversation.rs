//! One conversation's history, generated in time order and handed out one day file at a time,
//! so memory holds a single day plus the replies already planned for open threads, whatever the
//! conversation's size.
//!
//! A thread root decides its replies when it is written (Slack's root carries `reply_count`,
//! `replies` and `reply_users`), so the replies wait in a queue ordered by ts and are emitted
//! when time reaches them, often in a later day file. Top-level ts values are even and reply
//! ts values odd (in microseconds), which keeps every ts of a conversation distinct.

use std::collections::{BTreeMap, BTreeSet};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::markup::{self, MentionTargets};
use crate::model::{
    Attachment, AttachmentField, Block, BroadcastRoot, Edited, File, Message, Reaction, ReplyRef,
};
use crate::workspace::{Conversation, ConversationKind, Workspace};

const DAY_US: u64 = 86_400_000_000;

/// The messages of one day file.
#[derive(Debug)]
pub struct DayFile<'w> {
    /// `YYYY-MM-DD`, also the file stem.
    pub date: String,
    /// Messages in ts order.
    pub messages: Vec<Message<'w>>,
}

/// What a conversation contributed to the export's counts.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Messages of every subtype, replies included.
    pub messages: u64,
    /// Messages whose `thread_ts` differs from their `ts`.
    pub replies: u64,
    /// Message × emoji × user.
    pub reactions: u64,
    /// Distinct file ids introduced.
    pub files: u64,
    /// Referenced users that `users.json` lacks, by index.
    pub external_users: BTreeSet<usize>,
}

impl Tally {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: Tally) {
        self.messages += other.messages;
        self.replies += other.replies;
        self.reactions += other.reactions;
        self.files += other.files;
        self.external_users.extend(other.external_users);
    }
}

struct PendingReply {
    root_ts: u64,
    root_user: usize,
    user: usize,
    broadcast: bool,
    root_text: Option<String>,
}

/// Generates the day files of one conversation.
pub struct ConversationStream<'w> {
    ws: &'w Workspace,
    conv: &'w Conversation,
    index: u64,
    rng: ChaCha8Rng,
    targets: MentionTargets<'w>,
    authors: Vec<usize>,
    reserved: u64,
    next_top_us: u64,
    pending: BTreeMap<u64, PendingReply>,
    current_day: Option<u64>,
    day: Vec<Message<'w>>,
    recent_files: Vec<File>,
    file_seq: u64,
    tally: Tally,
}

/// Formats microseconds since the epoch as a Slack ts (`1433558207.760577`).
pub fn slack_ts(us: u64) -> String {
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

/// `YYYY-MM-DD` of a day number since 1970-01-01 (proleptic Gregorian, UTC).
pub fn civil_date(days: u64) -> String {
    // Howard Hinnant's days-to-civil algorithm.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn exp_sample<R: Rng>(rng: &mut R, mean: f64) -> f64 {
    let u: f64 = rng.gen_range(f64::EPSILON..1.0);
    -u.ln() * mean
}

impl<'w> ConversationStream<'w> {
    /// A stream over conversation number `index` of `ws`, seeded from `seed` and `index` only,
    /// so conversations are independent of each other.
    pub fn new(ws: &'w Workspace, index: usize, seed: u64) -> Self {
        let conv = &ws.conversations[index];
        let mut rng =
            ChaCha8Rng::seed_from_u64(seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut authors: Vec<usize> = conv.members.iter().copied().filter(|&u| !ws.users[u].is_bot).collect();
        if authors.is_empty() {
            authors = ws.humans.clone();
        }
        if conv.kind == ConversationKind::Public {
            // Former colleagues whose accounts are now deactivated wrote some of the history.
            let deleted: Vec<usize> = (0..ws.users.len()).filter(|&u| ws.users[u].deleted).collect();
            authors.extend(deleted.choose_multiple(&mut rng, 3));
        }
        let start_s = conv.created as u64 + rng.gen_range(60..86_400 * 3);
        ConversationStream {
            ws,
            conv,
            index: index as u64,
            targets: MentionTargets {
                users: &ws.user_ids,
                usual: &ws.humans,
                external: &ws.external,
                channels: &ws.channel_links,
            },
            rng,
            authors,
            reserved: 0,
            next_top_us: start_s * 1_000_000,
            pending: BTreeMap::new(),
            current_day: None,
            day: Vec::new(),
            recent_files: Vec::new(),
            file_seq: 0,
            tally: Tally::default(),
        }
    }

    /// The conversation's folder name.
    pub fn folder(&self) -> &'w str {
        &self.conv.folder
    }

    /// Counts so far; complete once [`Self::next_day`] has returned `None`.
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// The next day file, or `None` when the conversation is complete.
    pub fn next_day(&mut self) -> Option<DayFile<'w>> {
        loop {
            let next_reply = self.pending.keys().next().copied();
            let next_top = (self.reserved < self.conv.quota).then_some(self.next_top_us);
            let t = match (next_reply, next_top) {
                (None, None) => break,
                (Some(r), None) => r,
                (None, Some(top)) => top,
                (Some(r), Some(top)) => r.min(top),
            };
            let day = t / DAY_US;
            if self.current_day.is_some_and(|d| d != day) {
                return self.flush();
            }
            self.current_day = Some(day);
            match self.pending.remove(&t) {
                Some(reply) => self.emit_reply(t, reply),
                None => self.emit_top(t),
            }
        }
        self.flush()
    }

    fn flush(&mut self) -> Option<DayFile<'w>> {
        let day = self.current_day.take()?;
        Some(DayFile { date: civil_date(day), messages: std::mem::take(&mut self.day) })
    }

    fn push(&mut self, msg: Message<'w>) {
        self.tally.messages += 1;
        if let Some(r) = &msg.reactions {
            self.tally.reactions += r.iter().map(|r| r.users.len() as u64).sum::<u64>();
        }
        self.day.push(msg);
    }

    fn note_user(&mut self, u: usize) {
        if u >= self.ws.users.len() {
            self.tally.external_users.insert(u);
        }
    }

    fn pick_author(&mut self) -> usize {
        if self.conv.kind == ConversationKind::Public && self.rng.gen_bool(0.002) {
            let ext = &self.ws.external;
            return ext[self.rng.gen_range(0..ext.len())];
        }
        // Skewed: a few members write most of the messages.
        let x: f64 = self.rng.gen();
        self.authors[((x * x) * self.authors.len() as f64) as usize]
    }

    fn emit_top(&mut self, t: u64) {
        self.reserved += 1;
        let gap = if self.rng.gen_bool(0.01) {
            // Bursts: messages within the same millisecond.
            self.rng.gen_range(1..500u64) * 2
        } else {
            (exp_sample(&mut self.rng, self.conv.mean_gap_us) as u64 / 2 * 2).max(2)
        };
        self.next_top_us = t + gap;

        let is_channel = matches!(self.conv.kind, ConversationKind::Public | ConversationKind::Private);
        let roll = self.rng.gen_range(0..1000u32);
        let msg = match roll {
            0..=29 if is_channel => self.membership(t, "channel_join"),
            30..=41 if is_channel => self.membership(t, "channel_leave"),
            42..=44 if is_channel => self.topic_change(t, "channel_topic", "topic"),
            45..=46 if is_channel => self.topic_change(t, "channel_purpose", "purpose"),
            47..=86 if is_channel => self.integration_message(t),
            87..=106 if self.conv.kind == ConversationKind::Public => self.bot_user_message(t),
            107..=111 => {
                let user = self.pick_author();
                self.note_user(user);
                let mut m = Message::new(slack_ts(t), format!("is {}", markup::words(&mut self.rng, 2, 6)));
                m.subtype = Some("me_message");
                m.user = Some(self.ws.user_ids[user].clone());
                m
            }
            _ => {
                let user = self.pick_author();
                let replies = if self.rng.gen_bool(0.10) { self.plan_reply_count() } else { 0 };
                let mut m = if replies > 0 && self.rng.gen_bool(0.05) {
                    // The root was deleted after people replied: Slack keeps a tombstone.
                    let mut tomb = Message::new(slack_ts(t), "This message was deleted.".into());
                    tomb.subtype = Some("tombstone");
                    tomb.user = Some("USLACKBOT".to_string());
                    tomb.hidden = Some(true);
                    tomb
                } else {
                    self.user_message(t, user)
                };
                if replies > 0 {
                    self.make_thread(t, user, replies, &mut m);
                }
                m
            }
        };
        self.push(msg);
    }

    fn membership(&mut self, t: u64, subtype: &'static str) -> Message<'w> {
        let u = self.ws.humans[self.rng.gen_range(0..self.ws.humans.len())];
        let id = &self.ws.user_ids[u];
        let verb = if subtype == "channel_join" { "joined" } else { "left" };
        let mut m = Message::new(slack_ts(t), format!("<@{id}> has {verb} the channel"));
        m.subtype = Some(subtype);
        m.user = Some(id.clone());
        if subtype == "channel_join" && self.rng.gen_bool(0.2) {
            let inviter = self.authors[self.rng.gen_range(0..self.authors.len())];
            m.inviter = Some(self.ws.user_ids[inviter].clone());
        }
        m
    }

    fn topic_change(&mut self, t: u64, subtype: &'static str, what: &str) -> Message<'w> {
        let u = self.authors[self.rng.gen_range(0..self.authors.len())];
        let id = &self.ws.user_ids[u];
        let value = markup::words(&mut self.rng, 2, 8);
        let mut m = Message::new(slack_ts(t), format!("<@{id}> set the channel {what}: {value}"));
        m.subtype = Some(subtype);
        m.user = Some(id.clone());
        if what == "topic" {
            m.topic = Some(value);
        } else {
            m.purpose = Some(value);
        }
        m
    }

    fn integration_message(&mut self, t: u64) -> Message<'w> {
        let bot = &self.ws.integrations[self.rng.gen_range(0..self.ws.integrations.len())];
        let n = self.rng.gen_range(100..9_999u32);
        let title = markup::words(&mut self.rng, 3, 7);
        let mut m = Message::new(slack_ts(t), String::new());
        m.subtype = Some("bot_message");
        m.bot_id = Some(bot.bot_id.clone());
        m.username = Some(bot.username.clone());
        m.icons = Some(bot.icons.clone());
        let ok = self.rng.gen_bool(0.8);
        m.attachments = Some(vec![Attachment {
            fallback: format!("[acme/api] #{n}: {title}"),
            color: Some(if ok { "36a64f" } else { "d00000" }.to_string()),
            pretext: Some(format!("New event from *{}*", bot.username)),
            author_name: Some(bot.username.clone()),
            service_name: None,
            title: format!("#{n} {title}"),
            title_link: format!("https://github.com/acme/api/pull/{n}"),
            text: markup::words(&mut self.rng, 5, 20),
            fields: vec![
                AttachmentField {
                    title: "Status".to_string(),
                    value: if ok { "Passed" } else { "Failed" }.to_string(),
                    short: true,
                },
                AttachmentField {
                    title: "Priority".to_string(),
                    value: ["Low", "Medium", "High"][self.rng.gen_range(0..3)].to_string(),
                    short: true,
                },
            ],
            from_url: None,
            footer: Some(bot.username.clone()),
            ts: Some((t / 1_000_000) as i64),
            mrkdwn_in: vec!["text", "pretext"],
            id: 1,
        }]);
        m
    }

    fn bot_user_message(&mut self, t: u64) -> Message<'w> {
        let bot = &self.ws.bots[self.rng.gen_range(0..self.ws.bots.len())];
        let body = markup::message_markup(&mut self.rng, &self.targets);
        let mut m = Message::new(slack_ts(t), body.text);
        m.user = Some(self.ws.user_ids[bot.user].clone());
        m.bot_id = Some(bot.profile.id.clone());
        m.bot_profile = Some(&bot.profile);
        m.team = Some(self.ws.team_id.clone());
        m.blocks = Some(vec![self.block(body.rich)]);
        for u in body.mentions {
            self.note_user(u);
        }
        m
    }

    fn block(&mut self, elements: Vec<crate::model::RichElement>) -> Block {
        const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let id: String = (0..5).map(|_| B64[self.rng.gen_range(0..B64.len())] as char).collect();
        Block { kind: "rich_text", block_id: id, elements }
    }

    fn uuid(&mut self) -> String {
        let a: u128 = self.rng.gen();
        let a = (a & !(0xF << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
        let h = format!("{a:032x}");
        format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
    }

    /// A message written by a person, with the optional parts real messages carry.
    fn user_message(&mut self, t: u64, user: usize) -> Message<'w> {
        self.note_user(user);
        let body = markup::message_markup(&mut self.rng, &self.targets);
        for &u in &body.mentions {
            self.note_user(u);
        }
        let mut m = Message::new(slack_ts(t), body.text);
        m.client_msg_id = Some(self.uuid());
        m.user = Some(self.ws.user_ids[user].clone());
        m.team = Some(self.ws.profiles[user].team.clone());
        m.user_profile = Some(&self.ws.profiles[user]);
        if self.rng.gen_bool(0.35) {
            m.blocks = Some(vec![self.block(body.rich)]);
        }
        if let Some(url) = body.link {
            if self.rng.gen_bool(0.3) {
                m.attachments = Some(vec![Attachment {
                    fallback: format!("Link: {url}"),
                    color: None,
                    pretext: None,
                    author_name: None,
                    service_name: Some(url.split('/').nth(2).unwrap_or("web").to_string()),
                    title: markup::words(&mut self.rng, 2, 6),
                    title_link: url.clone(),
                    text: markup::words(&mut self.rng, 6, 20),
                    fields: Vec::new(),
                    from_url: Some(url),
                    footer: None,
                    ts: None,
                    mrkdwn_in: Vec::new(),
                    id: 1,
                }]);
            }
        }
        if self.rng.gen_bool(0.06) {
            m.edited = Some(Edited {
                user: self.ws.user_ids[user].clone(),
                ts: slack_ts(t + self.rng.gen_range(1..7_200u64) * 1_000_000),
            });
        }
        if self.rng.gen_bool(0.15) {
            m.reactions = Some(self.reactions());
        }
        if self.rng.gen_bool(0.05) {
            let n = if self.rng.gen_bool(0.85) { 1 } else { self.rng.gen_range(2..=4) };
            let files: Vec<File> = (0..n).map(|_| self.file(t, user)).collect();
            m.files = Some(files);
            m.upload = Some(true);
            m.display_as_bot = Some(false);
        }
        m
    }

    fn reactions(&mut self) -> Vec<Reaction> {
        let n = self.rng.gen_range(1..=3);
        let mut out: Vec<Reaction> = Vec::with_capacity(n);
        for _ in 0..n {
            let (name, _, tone) = markup::pick_emoji(&mut self.rng);
            let name = markup::reaction_name(name, tone);
            if out.iter().any(|r| r.name == name) {
                continue;
            }
            let k = self.rng.gen_range(1..=self.authors.len().min(6));
            let users: Vec<String> = self
                .authors
                .choose_multiple(&mut self.rng, k)
                .map(|&u| self.ws.user_ids[u].clone())
                .collect();
            out.push(Reaction { name, count: users.len(), users });
        }
        out
    }

    fn file(&mut self, t: u64, user: usize) -> File {
        if !self.recent_files.is_empty() && self.rng.gen_bool(0.08) {
            // A file shared again: same id, so it counts once.
            return self.recent_files[self.rng.gen_range(0..self.recent_files.len())].clone();
        }
        self.file_seq += 1;
        self.tally.files += 1;
        let id = crate::workspace::slack_id('F', 6, (self.index << 32) | self.file_seq);
        let roll = self.rng.gen_range(0..100u32);
        let mut f = File {
            id: id.clone(),
            mode: "hosted",
            created: None,
            timestamp: None,
            name: None,
            title: None,
            mimetype: None,
            filetype: None,
            pretty_type: None,
            user: None,
            size: None,
            is_external: None,
            external_type: None,
            is_public: None,
            url_private: None,
            url_private_download: None,
            thumb_360: None,
            thumb_360_w: None,
            thumb_360_h: None,
            preview: None,
            permalink: None,
            permalink_public: None,
            file_access: None,
        };
        match roll {
            95..=97 => {
                f.mode = "hidden_by_limit";
                return f;
            }
            98..=99 => {
                f.mode = "tombstone";
                return f;
            }
            _ => {}
        }
        let (stem, ext, mime, pretty) = match roll {
            0..=59 => ("Screenshot 2023-04-01 at 10.12.44", "png", "image/png", "PNG"),
            60..=69 => ("IMG_2044", "jpg", "image/jpeg", "JPEG"),
            70..=81 => ("Q3 report – 数据", "pdf", "application/pdf", "PDF"),
            82..=87 => ("snippet", "text", "text/plain", "Plain Text"),
            88..=91 => ("logs", "zip", "application/zip", "Zip"),
            _ => ("Roadmap", "gdoc", "application/vnd.google-apps.document", "Google Docs"),
        };
        let name = format!("{stem}.{ext}");
        let slug: String = name
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' })
            .collect();
        let secs = (t / 1_000_000) as i64;
        let uid = &self.ws.user_ids[user];
        let team = &self.ws.team_id;
        let token = &self.ws.token;
        f.created = Some(secs);
        f.timestamp = Some(secs);
        f.name = Some(name.clone());
        f.title = Some(if self.rng.gen_bool(0.7) { name } else { markup::words(&mut self.rng, 2, 5) });
        f.mimetype = Some(mime);
        f.filetype = Some(ext);
        f.pretty_type = Some(pretty);
        f.user = Some(uid.clone());
        f.is_public = Some(self.conv.kind == ConversationKind::Public);
        f.permalink = Some(format!("https://{}.slack.com/files/{uid}/{id}/{slug}", self.ws.domain));
        if ext == "gdoc" {
            f.mode = "external";
            f.is_external = Some(true);
            f.external_type = Some("gdrive");
            f.size = Some(self.rng.gen_range(1_000..9_000));
            f.url_private = Some(format!(
                "https://docs.google.com/document/d/1{:x}/edit?usp=drivesdk",
                self.rng.gen::<u64>()
            ));
        } else {
            f.is_external = Some(false);
            f.external_type = Some("");
            f.size = Some(self.rng.gen_range(200..30_000_000));
            f.url_private = Some(format!("https://files.slack.com/files-pri/{team}-{id}/{slug}?t={token}"));
            f.url_private_download =
                Some(format!("https://files.slack.com/files-pri/{team}-{id}/download/{slug}?t={token}"));
            f.permalink_public = Some(format!(
                "https://slack-files.com/{team}-{id}-{:010x}",
                self.rng.gen::<u64>() & 0xff_ffff_ffff
            ));
            f.file_access = Some("visible");
            if mime.starts_with("image/") {
                let w = self.rng.gen_range(200..360u32);
                f.thumb_360 = Some(format!(
                    "https://files.slack.com/files-tmb/{team}-{id}-{:010x}/{}_360.{ext}?t={token}",
                    self.rng.gen::<u64>() & 0xff_ffff_ffff,
                    slug.trim_end_matches(&format!(".{ext}"))
                ));
                f.thumb_360_w = Some(w);
                f.thumb_360_h = Some(360);
            }
            if ext == "text" {
                f.mode = "snippet";
                f.preview = Some("SELECT * FROM events WHERE ts > now() - '1 day';".to_string());
            }
        }
        if self.recent_files.len() < 8 {
            self.recent_files.push(f.clone());
        } else {
            let k = self.rng.gen_range(0..8);
            self.recent_files[k] = f.clone();
        }
        f
    }

    /// How many replies a new thread gets, within what is left of the quota.
    fn plan_reply_count(&mut self) -> u64 {
        let wanted = 1 + exp_sample(&mut self.rng, 3.0) as u64;
        wanted.min(60).min(self.conv.quota - self.reserved)
    }

    /// Makes `root` a thread root with `count` replies and queues the replies.
    fn make_thread(&mut self, t: u64, user: usize, count: u64, root: &mut Message<'w>) {
        self.reserved += count;
        let mut at = t;
        let mut replies = Vec::with_capacity(count as usize);
        let mut reply_users: Vec<String> = Vec::new();
        let root_ts = slack_ts(t);
        for _ in 0..count {
            let mut gap = exp_sample(&mut self.rng, 900e6) as u64 + 1;
            if self.rng.gen_bool(0.12) {
                gap += self.rng.gen_range(1..=3) * DAY_US;
            }
            at = (at + gap) | 1;
            while self.pending.contains_key(&at) {
                at += 2;
            }
            let author = self.pick_author();
            let broadcast = self.rng.gen_bool(0.05);
            let id = &self.ws.user_ids[author];
            if !reply_users.contains(id) {
                reply_users.push(id.clone());
            }
            replies.push(ReplyRef { user: id.clone(), ts: slack_ts(at) });
            self.pending.insert(
                at,
                PendingReply {
                    root_ts: t,
                    root_user: user,
                    user: author,
                    broadcast,
                    root_text: broadcast.then(|| root.text.clone()),
                },
            );
        }
        root.thread_ts = Some(root_ts);
        root.reply_count = Some(replies.len());
        root.reply_users_count = Some(reply_users.len());
        root.latest_reply = replies.last().map(|r| r.ts.clone());
        root.reply_users = Some(reply_users);
        root.replies = Some(replies);
        root.is_locked = Some(false);
        root.subscribed = Some(false);
    }

    fn emit_reply(&mut self, t: u64, reply: PendingReply) {
        let mut m = self.user_message(t, reply.user);
        let root_ts = slack_ts(reply.root_ts);
        let root_user = self.ws.user_ids[reply.root_user].clone();
        if reply.broadcast {
            m.subtype = Some("thread_broadcast");
            m.root = Some(BroadcastRoot {
                user: root_user.clone(),
                text: reply.root_text.unwrap_or_default(),
                ts: root_ts.clone(),
                thread_ts: root_ts.clone(),
                kind: "message",
            });
        }
        m.thread_ts = Some(root_ts);
        m.parent_user_id = Some(root_user);
        self.tally.replies += 1;
        self.push(m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_ts() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(17_903), "2019-01-07");
        assert_eq!(civil_date(19_782), "2024-02-29");
        assert_eq!(slack_ts(1_433_558_207_000_577), "1433558207.000577");
    }

    #[test]
    fn stream_is_ordered_and_exact() {
        let ws = Workspace::generate(11, 20_000, Some(8));
        for (i, conv) in ws.conversations.iter().enumerate() {
            let mut s = ConversationStream::new(&ws, i, 11);
            let mut n = 0u64;
            let mut last_date = String::new();
            let mut seen = BTreeSet::new();
            while let Some(day) = s.next_day() {
                assert!(day.date > last_date, "day files in order");
                last_date = day.date.clone();
                assert!(!day.messages.is_empty());
                for m in &day.messages {
                    assert!(seen.insert(m.ts.clone()), "ts unique in a conversation");
                }
                n += day.messages.len() as u64;
            }
            assert_eq!(n, conv.quota);
            assert_eq!(s.tally().messages, conv.quota);
        }
    }
}
