//! Writing a whole synthetic export: metadata files, then every conversation day file by day
//! file, into a zip (deflate, fixed timestamps, so a seed always gives the same bytes) or a
//! directory. A generator thread builds and serializes day files while the calling thread
//! compresses and writes them; a bounded channel between the two keeps memory flat.
//!
//! Alongside the export, `<out>.counts.json` records the counts the extractor's manifest must
//! report for it (see [`ExpectedCounts`]).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::conversation::{ConversationStream, Tally};
use crate::format::write_slack_json;
use crate::workspace::{ConversationKind, Workspace};

/// Where the export goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One `.zip` file, as Slack delivers it.
    Zip,
    /// An unpacked directory.
    Dir,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Exact number of messages (every subtype, replies included).
    pub messages: u64,
    /// RNG seed; the same seed gives the same export.
    pub seed: u64,
    /// Number of conversations; a size-dependent default when `None`.
    pub channels: Option<usize>,
    /// Users, conversations and time span as for an export of this many messages
    /// (`None`: `messages`); see [`crate::workspace::Workspace::generate_shaped`].
    pub shape: Option<u64>,
    /// Zip or directory.
    pub layout: Layout,
    /// Output path.
    pub out: PathBuf,
}

/// The counts `chatport extract` must put in its manifest for a generated export, with the
/// meanings of issue 2 (and of `fixtures/corpora/count_export.py`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedCounts {
    /// `users.json` records plus one placeholder per referenced user it lacks.
    pub users: u64,
    /// Conversations listed in the metadata files (every generated one is listed).
    pub conversations: u64,
    /// Messages of every subtype, replies included.
    pub messages: u64,
    /// Messages whose thread root is another message.
    pub replies: u64,
    /// Message × emoji × reacting user.
    pub reactions: u64,
    /// Distinct file ids.
    pub files: u64,
}

/// The outcome of [`generate`].
#[derive(Debug, Clone, Serialize)]
pub struct GenerateReport {
    /// Counts the extractor must report.
    pub counts: ExpectedCounts,
    /// Files written (metadata and day files).
    pub files_written: u64,
    /// Uncompressed JSON bytes.
    pub json_bytes: u64,
    /// Size of the zip, or of the JSON for a directory.
    pub output_bytes: u64,
    /// Wall time.
    pub seconds: f64,
}

/// Path of the sidecar file holding the [`ExpectedCounts`] of an export at `out`.
pub fn counts_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".counts.json");
    out.with_file_name(name)
}

/// Receives the files of an export.
trait ExportSink {
    fn add_dir(&mut self, name: &str) -> Result<()>;
    fn add_file(&mut self, name: &str, data: &[u8]) -> Result<()>;
    fn finish(self: Box<Self>) -> Result<u64>;
}

struct ZipSink {
    zip: ZipWriter<std::io::BufWriter<fs::File>>,
    options: SimpleFileOptions,
    tmp: PathBuf,
    out: PathBuf,
}

impl ZipSink {
    fn create(out: &Path) -> Result<Self> {
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        let tmp = out.with_extension("zip.partial");
        let file = fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mtime = DateTime::from_date_and_time(2024, 1, 1, 0, 0, 0)
            .map_err(|e| anyhow::anyhow!("zip timestamp: {e:?}"))?;
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .last_modified_time(mtime)
            .unix_permissions(0o644);
        Ok(ZipSink {
            zip: ZipWriter::new(std::io::BufWriter::with_capacity(1 << 20, file)),
            options,
            tmp,
            out: out.to_path_buf(),
        })
    }
}

impl ExportSink for ZipSink {
    fn add_dir(&mut self, name: &str) -> Result<()> {
        self.zip.add_directory(format!("{name}/"), self.options.unix_permissions(0o755))?;
        Ok(())
    }

    fn add_file(&mut self, name: &str, data: &[u8]) -> Result<()> {
        self.zip.start_file(name, self.options)?;
        self.zip.write_all(data)?;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<u64> {
        let mut inner = self.zip.finish()?;
        inner.flush()?;
        drop(inner);
        fs::rename(&self.tmp, &self.out)
            .with_context(|| format!("renaming {} to {}", self.tmp.display(), self.out.display()))?;
        Ok(fs::metadata(&self.out)?.len())
    }
}

struct DirSink {
    root: PathBuf,
    bytes: u64,
}

impl ExportSink for DirSink {
    fn add_dir(&mut self, name: &str) -> Result<()> {
        fs::create_dir_all(self.root.join(name))?;
        Ok(())
    }

    fn add_file(&mut self, name: &str, data: &[u8]) -> Result<()> {
        let path = self.root.join(name);
        fs::write(&path, data).with_context(|| format!("writing {}", path.display()))?;
        self.bytes += data.len() as u64;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<u64> {
        Ok(self.bytes)
    }
}

enum Item {
    Dir(String),
    File(String, Vec<u8>),
}

/// Writes the export described by `opts` and returns what was written.
pub fn generate(opts: &GenerateOptions) -> Result<GenerateReport> {
    let started = Instant::now();
    let ws = Workspace::generate_shaped(
        opts.seed,
        opts.messages,
        opts.shape.unwrap_or(opts.messages),
        opts.channels,
    );
    let mut sink: Box<dyn ExportSink> = match opts.layout {
        Layout::Zip => Box::new(ZipSink::create(&opts.out)?),
        Layout::Dir => {
            if opts.out.exists() && fs::read_dir(&opts.out)?.next().is_some() {
                bail!("{} exists and is not empty", opts.out.display());
            }
            fs::create_dir_all(&opts.out).with_context(|| format!("creating {}", opts.out.display()))?;
            Box::new(DirSink { root: opts.out.clone(), bytes: 0 })
        }
    };

    let mut files_written = 0u64;
    let mut json_bytes = 0u64;
    let mut buf = Vec::with_capacity(1 << 16);
    let mut write_meta = |sink: &mut Box<dyn ExportSink>, name: &str, json: &dyn erased::Json| {
        buf.clear();
        json.write(&mut buf)?;
        files_written += 1;
        json_bytes += buf.len() as u64;
        sink.add_file(name, &buf)
    };
    write_meta(&mut sink, "channels.json", &ws.channel_records(ConversationKind::Public))?;
    write_meta(&mut sink, "dms.json", &ws.dm_records())?;
    write_meta(&mut sink, "groups.json", &ws.channel_records(ConversationKind::Private))?;
    write_meta(&mut sink, "integration_logs.json", &integration_logs(&ws))?;
    write_meta(&mut sink, "mpims.json", &ws.channel_records(ConversationKind::GroupDm))?;
    write_meta(&mut sink, "users.json", &ws.users)?;

    let (tx, rx) = mpsc::sync_channel::<Item>(8);
    let tally = std::thread::scope(|scope| -> Result<Tally> {
        let ws = &ws;
        let seed = opts.seed;
        let producer = scope.spawn(move || -> Result<Tally> {
            let mut total = Tally::default();
            for index in 0..ws.conversations.len() {
                let mut stream = ConversationStream::new(ws, index, seed);
                let mut announced = false;
                while let Some(day) = stream.next_day() {
                    if !announced {
                        announced = true;
                        if tx.send(Item::Dir(stream.folder().to_string())).is_err() {
                            return Ok(total);
                        }
                    }
                    let mut bytes = Vec::with_capacity(day.messages.len() * 1_200);
                    write_slack_json(&mut bytes, &day.messages)?;
                    let name = format!("{}/{}.json", stream.folder(), day.date);
                    if tx.send(Item::File(name, bytes)).is_err() {
                        return Ok(total);
                    }
                }
                total.merge(stream.tally().clone());
            }
            Ok(total)
        });
        let mut write_result = Ok(());
        for item in rx.iter() {
            let r = match item {
                Item::Dir(name) => sink.add_dir(&name),
                Item::File(name, bytes) => {
                    files_written += 1;
                    json_bytes += bytes.len() as u64;
                    sink.add_file(&name, &bytes)
                }
            };
            if let Err(e) = r {
                write_result = Err(e);
                break;
            }
        }
        drop(rx);
        let tally = producer.join().map_err(|_| anyhow::anyhow!("generator thread panicked"))??;
        write_result.map(|()| tally)
    })?;
    let output_bytes = sink.finish()?;

    let counts = ExpectedCounts {
        users: ws.users.len() as u64 + tally.external_users.len() as u64,
        conversations: ws.conversations.len() as u64,
        messages: tally.messages,
        replies: tally.replies,
        reactions: tally.reactions,
        files: tally.files,
    };
    debug_assert_eq!(counts.messages, opts.messages);
    let sidecar = counts_path(&opts.out);
    fs::write(&sidecar, serde_json::to_vec_pretty(&counts)?)
        .with_context(|| format!("writing {}", sidecar.display()))?;
    Ok(GenerateReport {
        counts,
        files_written,
        json_bytes,
        output_bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn integration_logs(ws: &Workspace) -> Vec<serde_json::Value> {
    ws.integrations
        .iter()
        .enumerate()
        .map(|(k, bot)| {
            serde_json::json!({
                "user_id": ws.user_ids[ws.humans[k % ws.humans.len()]],
                "user_name": ws.users[ws.humans[k % ws.humans.len()]].name,
                "bot_id": bot.bot_id,
                "date": (crate::workspace::WORKSPACE_START + 86_400 * k as i64).to_string(),
                "change_type": "added",
                "service_type": bot.username,
                "scope": "incoming-webhook",
            })
        })
        .collect()
}

/// Object-safe serialization, so metadata files of different types go through one closure.
mod erased {
    use serde::Serialize;

    pub trait Json {
        fn write(&self, out: &mut Vec<u8>) -> std::io::Result<()>;
    }

    impl<T: Serialize> Json for T {
        fn write(&self, out: &mut Vec<u8>) -> std::io::Result<()> {
            crate::format::write_slack_json(out, self)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn small(out: PathBuf, layout: Layout) -> GenerateReport {
        generate(&GenerateOptions { messages: 3_000, seed: 42, channels: Some(9), shape: None, layout, out })
            .unwrap()
    }

    #[test]
    fn same_seed_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.zip");
        let b = dir.path().join("b.zip");
        small(a.clone(), Layout::Zip);
        small(b.clone(), Layout::Zip);
        assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap());
        assert_eq!(fs::read(counts_path(&a)).unwrap(), fs::read(counts_path(&b)).unwrap());
    }

    #[test]
    fn message_count_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        let zip_path = dir.path().join("e.zip");
        let report = small(zip_path.clone(), Layout::Zip);
        assert_eq!(report.counts.messages, 3_000);

        let mut archive = zip::ZipArchive::new(fs::File::open(&zip_path).unwrap()).unwrap();
        let (mut messages, mut replies) = (0u64, 0u64);
        for i in 0..archive.len() {
            let mut entry = archive.by_index(i).unwrap();
            if !crate::floor::is_day_file(entry.name()) {
                continue;
            }
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            assert!(text.starts_with("[\n    {\n        \""), "4-space pretty print");
            let day: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
            messages += day.len() as u64;
            replies +=
                day.iter().filter(|m| m.get("thread_ts").is_some_and(|t| Some(t) != m.get("ts"))).count()
                    as u64;
        }
        assert_eq!(messages, 3_000);
        assert_eq!(replies, report.counts.replies);
        assert!(replies > 0);

        let dir_out = dir.path().join("unpacked");
        let report = small(dir_out.clone(), Layout::Dir);
        assert_eq!(report.counts.messages, 3_000);
        assert!(dir_out.join("users.json").is_file());
    }
}
