//! Records shared by the `plan_*` integration tests: users, mapping rows, conversations and
//! messages with plain defaults, for tests to adjust field by field.

#![allow(dead_code)]

use chatport_model::{Body, Conversation, ConversationKind, Message, MessageKind, SlackTs, SourceRef, User};
use chatport_transform::users::{MappingRow, UserAction, UserKind};

pub fn user(id: &str, name: &str) -> User {
    User {
        id: id.into(),
        real_name: Some(name.into()),
        email: Some(format!("{}@example.com", name.to_lowercase())),
        team_id: Some("T1".into()),
        ..User::default()
    }
}

pub fn row(id: &str, name: &str, target: &str, action: UserAction) -> MappingRow {
    MappingRow {
        source_id: id.into(),
        name: name.to_lowercase(),
        display_name: name.into(),
        email: format!("{}@example.com", name.to_lowercase()),
        kind: UserKind::Member,
        target: target.into(),
        action,
    }
}

pub fn conv(id: &str, kind: ConversationKind, name: Option<&str>, members: &[&str]) -> Conversation {
    Conversation {
        id: id.into(),
        kind,
        name: name.map(str::to_owned),
        created: None,
        creator: None,
        topic: None,
        purpose: None,
        archived: false,
        is_general: false,
        members: members.iter().map(|m| (*m).to_owned()).collect(),
        memberships: Vec::new(),
        listed_in: None,
        folder: None,
        messages_path: format!("messages/{id}.jsonl"),
        message_count: 0,
        extra: Default::default(),
    }
}

pub fn msg(conversation: &str, ts: &str, author: &str, text: &str) -> Message {
    Message {
        conversation: conversation.into(),
        ts: SlackTs::new(ts),
        source: SourceRef { file: "x.json".into(), index: 0 },
        kind: MessageKind::Regular,
        subtype: None,
        author: Some(author.into()),
        bot: None,
        body: Body { format: "slack_mrkdwn".into(), text: text.into(), blocks: None },
        thread_ts: None,
        reply_to: None,
        reply_count: None,
        broadcast: false,
        edited: None,
        reactions: Vec::new(),
        files: Vec::new(),
        attachments: None,
        extra: Default::default(),
    }
}

pub fn reply(conversation: &str, ts: &str, root: &str, author: &str, text: &str) -> Message {
    let mut m = msg(conversation, ts, author, text);
    m.thread_ts = Some(SlackTs::new(root));
    m.reply_to = Some(SlackTs::new(root));
    m
}
