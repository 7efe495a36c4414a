//! The synthetic workspace behind a generated export: users (humans, guests, deleted
//! accounts, bot users, Slackbot), external people who are referenced but absent from
//! `users.json`, integrations, and conversations of every kind with their members and their
//! share of the messages. Everything derives from the seed; nothing here writes files.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::model::{BotProfile, ChannelRecord, DmRecord, Icons, Profile, TopicRecord, User, UserProfile};

/// 2019-01-07T00:00:00Z, when every generated workspace starts.
pub const WORKSPACE_START: i64 = 1_546_819_200;

/// Kind of a conversation, which decides the metadata file that lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationKind {
    /// `channels.json`.
    Public,
    /// `groups.json`.
    Private,
    /// `mpims.json`.
    GroupDm,
    /// `dms.json`.
    Dm,
}

/// A conversation and how its messages are spread over time.
#[derive(Debug, Clone)]
pub struct Conversation {
    /// Kind.
    pub kind: ConversationKind,
    /// Slack id.
    pub id: String,
    /// Folder name: the channel name, or the id for DMs.
    pub folder: String,
    /// Members, as user indices.
    pub members: Vec<usize>,
    /// Creator, a user index.
    pub creator: usize,
    /// Creation, Unix seconds.
    pub created: i64,
    /// Messages to generate, replies included.
    pub quota: u64,
    /// Mean gap between top-level messages, microseconds.
    pub mean_gap_us: f64,
    /// Archived.
    pub archived: bool,
}

/// A bot user: its index in [`Workspace::users`] and its profile.
#[derive(Debug, Clone)]
pub struct BotUser {
    /// User index.
    pub user: usize,
    /// Profile used on its messages.
    pub profile: BotProfile,
}

/// An integration posting `bot_message`s; it has no user record.
#[derive(Debug, Clone)]
pub struct Integration {
    /// `B…` id.
    pub bot_id: String,
    /// Display name.
    pub username: String,
    /// Icons.
    pub icons: Icons,
}

/// Everything a generated export is about.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// `T…` id.
    pub team_id: String,
    /// `<domain>.slack.com`.
    pub domain: String,
    /// Records of `users.json`.
    pub users: Vec<User>,
    /// Every user id: first those of [`Self::users`], then the external people.
    pub user_ids: Vec<String>,
    /// `user_profile` per entry of [`Self::user_ids`].
    pub profiles: Vec<UserProfile>,
    /// Indices of external people (not in `users.json`).
    pub external: Vec<usize>,
    /// Indices of active humans (authors and mention targets).
    pub humans: Vec<usize>,
    /// Bot users.
    pub bots: Vec<BotUser>,
    /// Integrations.
    pub integrations: Vec<Integration>,
    /// Conversations, in metadata order.
    pub conversations: Vec<Conversation>,
    /// Public channels as `(id, name)`, for channel links.
    pub channel_links: Vec<(String, String)>,
    /// The export token Slack appends to file URLs (`xoxe-…`).
    pub token: String,
}

const FIRST: &[&str] = &[
    "Alice",
    "Bob",
    "Carol",
    "Dmitri",
    "Eun-ji",
    "Fatima",
    "Gustavo",
    "Hiroshi",
    "Ines",
    "José",
    "Kwame",
    "Lena",
    "Mei",
    "Noor",
    "Olga",
    "Priya",
    "Quentin",
    "Rafael",
    "Sofía",
    "Tariq",
    "Uma",
    "Viktor",
    "Wei",
    "Xavier",
    "Yael",
    "Zoë",
    "Мария",
    "李娜",
    "محمد",
    "Søren",
];
const LAST: &[&str] = &[
    "Smith",
    "García",
    "Müller",
    "Tanaka",
    "Kim",
    "Nguyen",
    "Okafor",
    "Rossi",
    "Dubois",
    "Silva",
    "Kowalski",
    "Haddad",
    "Cohen",
    "Johansson",
    "O'Brien",
    "Ivanova",
    "Chen",
    "Patel",
];
const CHANNEL_WORDS: &[&str] = &[
    "eng",
    "design",
    "sales",
    "ops",
    "support",
    "data",
    "infra",
    "mobile",
    "web",
    "hr",
    "marketing",
    "finance",
    "security",
    "qa",
    "releases",
    "incidents",
    "social",
    "books",
];
const ZONES: &[(&str, &str, i32)] = &[
    ("America/Los_Angeles", "Pacific Standard Time", -28800),
    ("America/New_York", "Eastern Standard Time", -18000),
    ("Europe/London", "Greenwich Mean Time", 0),
    ("Europe/Berlin", "Central European Time", 3600),
    ("Asia/Tokyo", "Japan Standard Time", 32400),
    ("Asia/Kolkata", "India Standard Time", 19800),
];

/// A Slack-looking id: `prefix` and ten base-36 characters, distinct for distinct `n` within
/// one `space`.
pub fn slack_id(prefix: char, space: u64, n: u64) -> String {
    const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const MODULUS: u64 = 3_656_158_440_062_976; // 36^10
                                                // Multiplying by a prime coprime to 36 is a bijection modulo 36^10.
    let n = (u128::from(n) + u128::from(space) * 1_000_003) % u128::from(MODULUS);
    let mut v = (n * 2_654_435_761 % u128::from(MODULUS)) as u64;
    let mut buf = [b'0'; 10];
    for slot in buf.iter_mut().rev() {
        *slot = ALPHABET[(v % 36) as usize];
        v /= 36;
    }
    let mut id = String::with_capacity(11);
    id.push(prefix);
    id.push_str(std::str::from_utf8(&buf).unwrap_or("0000000000"));
    id
}

/// Splits `total` over `weights` exactly (largest remainder).
fn apportion(total: u64, weights: &[f64]) -> Vec<u64> {
    let sum: f64 = weights.iter().sum();
    let exact: Vec<f64> = weights.iter().map(|w| total as f64 * w / sum).collect();
    let mut out: Vec<u64> = exact.iter().map(|e| e.floor() as u64).collect();
    let mut left = total - out.iter().sum::<u64>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let fa = exact[a] - exact[a].floor();
        let fb = exact[b] - exact[b].floor();
        fb.total_cmp(&fa).then(a.cmp(&b))
    });
    for i in order.into_iter().cycle() {
        if left == 0 {
            break;
        }
        out[i] += 1;
        left -= 1;
    }
    out
}

impl Workspace {
    /// Builds the workspace for an export of `messages` messages over `conversations`
    /// conversations (a size-dependent default when `None`).
    pub fn generate(seed: u64, messages: u64, conversations: Option<usize>) -> Workspace {
        Self::generate_shaped(seed, messages, messages, conversations)
    }

    /// Like [`Workspace::generate`], with the users, conversations and time span of an
    /// export of `shape` messages, filled with `messages` (the conversations are busier
    /// by `messages / shape`): exports that differ only in how many messages they hold.
    pub fn generate_shaped(seed: u64, messages: u64, shape: u64, conversations: Option<usize>) -> Workspace {
        let density = messages as f64 / shape.max(1) as f64;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let team_id = slack_id('T', 0, seed);
        let domain = format!("acme-{}", seed % 10_000);
        let n_users = (shape / 1_500).clamp(25, 20_000) as usize;
        let n_bots = (n_users / 50).max(3);

        let mut users = Vec::with_capacity(n_users);
        let mut profiles = Vec::with_capacity(n_users + 3);
        let mut humans = Vec::new();
        let mut bots = Vec::new();
        for i in 0..n_users {
            let (id, first, last, handle) = if i == 0 {
                let id = "USLACKBOT".to_string();
                (id, "Slackbot".to_string(), String::new(), "slackbot".to_string())
            } else {
                let first = FIRST[rng.gen_range(0..FIRST.len())].to_string();
                let last = LAST[rng.gen_range(0..LAST.len())].to_string();
                let handle = format!("user{i}");
                (slack_id('U', 1, i as u64), first, last, handle)
            };
            let is_bot = i > 0 && i <= n_bots;
            let deleted = !is_bot && i > 0 && rng.gen_bool(0.05);
            let guest = !is_bot && !deleted && i > 0 && rng.gen_bool(0.04);
            let ultra = guest && rng.gen_bool(0.5);
            let real_name = if is_bot {
                format!("{} bot", CHANNEL_WORDS[i % CHANNEL_WORDS.len()])
            } else {
                format!("{first} {last}").trim().to_string()
            };
            let avatar_hash = format!("g{:011x}", rng.gen::<u64>() & 0xfff_ffff_ffff);
            let image_72 = format!(
                "https://secure.gravatar.com/avatar/{avatar_hash}.jpg?s=72&d=https%3A%2F%2Fa.slack-edge.com%2Fdf10d%2Fimg%2Favatars%2Fava_0001-72.png"
            );
            let bot_id = is_bot.then(|| slack_id('B', 2, i as u64));
            let zone = ZONES[rng.gen_range(0..ZONES.len())];
            let email = (!is_bot && i > 0).then(|| {
                if guest {
                    format!("{handle}@partner.example.org")
                } else {
                    format!("{handle}@{domain}.example.com")
                }
            });
            let profile = Profile {
                title: if is_bot { String::new() } else { crate::markup::words(&mut rng, 1, 2) },
                phone: String::new(),
                real_name: real_name.clone(),
                real_name_normalized: real_name.clone(),
                display_name: handle.clone(),
                display_name_normalized: handle.clone(),
                status_text: String::new(),
                status_emoji: String::new(),
                avatar_hash: avatar_hash.clone(),
                email,
                bot_id: bot_id.clone(),
                first_name: first.clone(),
                last_name: last,
                image_72: image_72.clone(),
                image_192: image_72.replace("s=72", "s=192"),
                team: team_id.clone(),
            };
            users.push(User {
                id: id.clone(),
                team_id: team_id.clone(),
                name: handle.clone(),
                deleted,
                color: (!deleted).then(|| format!("{:06x}", rng.gen::<u32>() & 0xff_ffff)),
                real_name: real_name.clone(),
                tz: (!deleted).then(|| zone.0.to_string()),
                tz_label: (!deleted).then(|| zone.1.to_string()),
                tz_offset: (!deleted).then_some(zone.2),
                profile,
                is_admin: i == 1 + n_bots,
                is_owner: i == 1 + n_bots,
                is_primary_owner: i == 1 + n_bots,
                is_restricted: guest,
                is_ultra_restricted: ultra,
                is_bot,
                is_app_user: false,
                updated: WORKSPACE_START + rng.gen_range(0..86_400 * 700),
            });
            profiles.push(UserProfile {
                avatar_hash,
                image_72,
                first_name: first,
                real_name,
                display_name: handle.clone(),
                team: team_id.clone(),
                name: handle,
                is_restricted: guest,
                is_ultra_restricted: ultra,
            });
            if let Some(bot_id) = bot_id {
                bots.push(BotUser {
                    user: i,
                    profile: BotProfile {
                        id: bot_id,
                        app_id: slack_id('A', 3, i as u64),
                        name: users[i].real_name.clone(),
                        icons: Icons {
                            image_48: format!("https://avatars.slack-edge.com/2019-01-07/{i}_48.png"),
                        },
                        deleted: false,
                        updated: WORKSPACE_START,
                        team_id: team_id.clone(),
                    },
                });
            } else if i > 0 && !deleted {
                humans.push(i);
            }
        }
        let mut user_ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
        // Slack Connect people: they author and get mentioned, but users.json omits them.
        let mut external = Vec::new();
        for k in 0..3u64 {
            external.push(user_ids.len());
            user_ids.push(slack_id('U', 9, k));
            profiles.push(UserProfile {
                avatar_hash: format!("g{k:011x}"),
                image_72: String::new(),
                first_name: "Guest".to_string(),
                real_name: format!("External Person {k}"),
                display_name: format!("ext{k}"),
                team: slack_id('T', 9, k),
                name: format!("ext{k}"),
                is_restricted: false,
                is_ultra_restricted: false,
            });
        }
        let integrations = ["GitHub", "Jira Cloud", "PagerDuty", "Deploy Bot"]
            .iter()
            .enumerate()
            .map(|(k, name)| Integration {
                bot_id: slack_id('B', 4, k as u64),
                username: name.to_string(),
                icons: Icons { image_48: format!("https://a.slack-edge.com/80588/img/services/{k}_48.png") },
            })
            .collect();

        let n_conv = conversations.unwrap_or((shape / 4_000).clamp(12, 2_000) as usize).max(4);
        let n_dm = n_conv / 4;
        let n_mpim = (n_conv / 10).max(1);
        let n_private = (n_conv * 15 / 100).max(1);
        let n_public = n_conv - n_dm - n_mpim - n_private;
        let mut convs: Vec<Conversation> = Vec::with_capacity(n_conv);
        let mut folders = std::collections::BTreeSet::new();
        let mut weights = Vec::with_capacity(n_conv);
        let pick_members = |rng: &mut ChaCha8Rng, n: usize| -> Vec<usize> {
            let mut m: Vec<usize> = humans.choose_multiple(rng, n.min(humans.len())).copied().collect();
            m.sort_unstable();
            m
        };
        for c in 0..n_conv {
            let (kind, prefix) = if c < n_public {
                (ConversationKind::Public, 'C')
            } else if c < n_public + n_private {
                (ConversationKind::Private, 'C')
            } else if c < n_public + n_private + n_mpim {
                (ConversationKind::GroupDm, 'G')
            } else {
                (ConversationKind::Dm, 'D')
            };
            let id = slack_id(prefix, 5, c as u64);
            let mut members = match kind {
                ConversationKind::Public if c == 0 => humans.clone(),
                ConversationKind::Public => {
                    let n = rng.gen_range(3..=humans.len().min(300));
                    pick_members(&mut rng, n)
                }
                ConversationKind::Private => {
                    let n = rng.gen_range(3..=humans.len().min(30));
                    pick_members(&mut rng, n)
                }
                ConversationKind::GroupDm => {
                    let n = rng.gen_range(3..=8);
                    pick_members(&mut rng, n)
                }
                ConversationKind::Dm => pick_members(&mut rng, 2),
            };
            if kind == ConversationKind::Public && c > 0 && rng.gen_bool(0.2) {
                members.push(bots[c % bots.len()].user);
            }
            let folder = match kind {
                ConversationKind::Public if c == 0 => "general".to_string(),
                ConversationKind::Public if c == 1 => "random".to_string(),
                ConversationKind::Public | ConversationKind::Private => format!(
                    "{}-{}-{c}",
                    CHANNEL_WORDS[rng.gen_range(0..CHANNEL_WORDS.len())],
                    ["team", "chat", "announce", "help", "dev", "中文", "feed"][rng.gen_range(0..7)]
                ),
                ConversationKind::GroupDm => {
                    let names: Vec<String> = members.iter().map(|&u| users[u].name.clone()).collect();
                    let base = format!("mpdm-{}", names.join("--"));
                    (1..).map(|n| format!("{base}-{n}")).find(|f| !folders.contains(f)).unwrap_or(base)
                }
                ConversationKind::Dm => id.clone(),
            };
            folders.insert(folder.clone());
            let created = WORKSPACE_START + rng.gen_range(0..86_400 * 365);
            let rate_per_day: f64 = match kind {
                ConversationKind::Dm | ConversationKind::GroupDm => rng.gen_range(5.0..40.0),
                _ => rng.gen_range(15.0..80.0),
            };
            let kind_weight = match kind {
                ConversationKind::Public => 1.0,
                ConversationKind::Private => 0.6,
                ConversationKind::GroupDm => 0.3,
                ConversationKind::Dm => 0.2,
            };
            // Zipf-like: a few busy channels, a long tail of quiet ones (some empty).
            let rank = (c % n_public.max(1)) as f64 + 1.0;
            weights.push(if c + 1 == n_public && n_public > 4 { 0.0 } else { kind_weight / rank.powf(0.9) });
            let creator = *members.first().unwrap_or(&1);
            convs.push(Conversation {
                kind,
                id,
                folder,
                members,
                creator,
                created,
                quota: 0,
                mean_gap_us: 86_400e6 / (rate_per_day * density),
                archived: kind != ConversationKind::Dm && rng.gen_bool(0.05),
            });
        }
        for (conv, quota) in convs.iter_mut().zip(apportion(messages, &weights)) {
            conv.quota = quota;
            // Spread big conversations over at most ~2,000 days.
            let min_rate = quota as f64 / 2_000.0;
            let rate = (86_400e6 / conv.mean_gap_us).max(min_rate);
            conv.mean_gap_us = 86_400e6 / rate;
        }
        let channel_links = convs
            .iter()
            .filter(|c| c.kind == ConversationKind::Public)
            .map(|c| (c.id.clone(), c.folder.clone()))
            .collect();
        let token = format!(
            "xoxe-{}-{}-{}-{:010x}",
            rng.gen_range(1_000_000_000u64..9_999_999_999),
            rng.gen_range(10_000_000_000u64..99_999_999_999),
            rng.gen_range(10_000_000_000u64..99_999_999_999),
            rng.gen::<u64>() & 0xff_ffff_ffff
        );
        Workspace {
            team_id,
            domain,
            users,
            user_ids,
            profiles,
            external,
            humans,
            bots,
            integrations,
            conversations: convs,
            channel_links,
            token,
        }
    }

    fn topic(&self, value: String, creator: usize, at: i64) -> TopicRecord {
        TopicRecord {
            creator: if value.is_empty() { String::new() } else { self.user_ids[creator].clone() },
            last_set: if value.is_empty() { 0 } else { at },
            value,
        }
    }

    /// The records of `channels.json` (public), `groups.json` (private) or `mpims.json`.
    pub fn channel_records(&self, kind: ConversationKind) -> Vec<ChannelRecord> {
        self.conversations
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| ChannelRecord {
                id: c.id.clone(),
                name: c.folder.clone(),
                created: c.created,
                creator: self.user_ids[c.creator].clone(),
                is_archived: c.archived,
                is_general: (kind == ConversationKind::Public).then(|| c.folder == "general"),
                members: c.members.iter().map(|&u| self.user_ids[u].clone()).collect(),
                topic: self.topic(
                    if kind == ConversationKind::GroupDm {
                        String::new()
                    } else {
                        format!("Everything about {}", c.folder)
                    },
                    c.creator,
                    c.created,
                ),
                purpose: self.topic(
                    if kind == ConversationKind::GroupDm {
                        format!("Group messaging with: {}", c.folder)
                    } else {
                        String::new()
                    },
                    c.creator,
                    c.created,
                ),
            })
            .collect()
    }

    /// The records of `dms.json`.
    pub fn dm_records(&self) -> Vec<DmRecord> {
        self.conversations
            .iter()
            .filter(|c| c.kind == ConversationKind::Dm)
            .map(|c| DmRecord {
                id: c.id.clone(),
                created: c.created,
                members: c.members.iter().map(|&u| self.user_ids[u].clone()).collect(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct() {
        let ids: std::collections::BTreeSet<String> = (0..10_000)
            .map(|n| slack_id('U', 1, n))
            .chain((0..10_000).map(|n| slack_id('U', 1, (7 << 32) | n)))
            .collect();
        assert_eq!(ids.len(), 20_000);
        assert_eq!(slack_id('U', 1, 5).len(), 11);
    }

    #[test]
    fn quotas_sum_to_total() {
        let ws = Workspace::generate(3, 123_457, None);
        assert_eq!(ws.conversations.iter().map(|c| c.quota).sum::<u64>(), 123_457);
        let names: std::collections::BTreeSet<&str> =
            ws.conversations.iter().map(|c| c.folder.as_str()).collect();
        assert_eq!(names.len(), ws.conversations.len());
    }

    /// A shaped export has the users, conversations and time span of the smaller one,
    /// with each conversation busier by the ratio of their message counts.
    #[test]
    fn a_shaped_workspace_differs_only_in_density() {
        let small = Workspace::generate(3, 100_000, None);
        let big = Workspace::generate_shaped(3, 300_000, 100_000, None);
        let ids = |ws: &Workspace| ws.users.iter().map(|u| u.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&small), ids(&big));
        let folders = |ws: &Workspace| ws.conversations.iter().map(|c| c.folder.clone()).collect::<Vec<_>>();
        assert_eq!(folders(&small), folders(&big));
        for (s, b) in small.conversations.iter().zip(&big.conversations) {
            if s.quota >= 1_000 {
                let q = b.quota as f64 / s.quota as f64;
                let span = (b.quota as f64 * b.mean_gap_us) / (s.quota as f64 * s.mean_gap_us);
                assert!((2.99..3.01).contains(&q), "{} quota ×{q}", s.folder);
                assert!((0.99..1.01).contains(&span), "{} span ×{span}", s.folder);
            }
        }
        let same = Workspace::generate_shaped(3, 100_000, 100_000, None);
        assert_eq!(folders(&same), folders(&small));
        assert!(same
            .conversations
            .iter()
            .zip(&small.conversations)
            .all(|(a, b)| a.mean_gap_us == b.mean_gap_us));
    }
}
