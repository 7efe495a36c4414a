//! Which Chat methods accept which authentication, in import mode and out of it.
//!
//! Encodes Google's "authorize import" table (user impersonation with `chat.import` vs app
//! authentication with `chat.bot`, per method) and the discovery scope lists. Owns only
//! the decision; the handlers call [`authorize`] with the space they act on.

use crate::auth::GoogleCaller;
use crate::chat::error::ChatError;
use crate::state::ChatSpace;
use crate::time::Timestamp;

const PREFIX: &str = "https://www.googleapis.com/auth/";

/// Every Chat scope the emulator knows (without the URL prefix).
pub const KNOWN_SCOPES: &[&str] = &[
    "chat.import",
    "chat.bot",
    "chat.spaces",
    "chat.spaces.readonly",
    "chat.spaces.create",
    "chat.messages",
    "chat.messages.readonly",
    "chat.messages.create",
    "chat.messages.reactions",
    "chat.messages.reactions.create",
    "chat.messages.reactions.readonly",
    "chat.memberships",
    "chat.memberships.readonly",
    "chat.delete",
];

/// Whether `scope` (full URL) is a scope the token endpoint grants.
pub fn is_known_scope(scope: &str) -> bool {
    scope.strip_prefix(PREFIX).is_some_and(|s| KNOWN_SCOPES.contains(&s))
}

/// A Chat API method, for authorization and quota purposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// spaces.create
    SpacesCreate,
    /// spaces.get
    SpacesGet,
    /// spaces.list
    SpacesList,
    /// spaces.patch
    SpacesPatch,
    /// spaces.delete
    SpacesDelete,
    /// spaces.completeImport
    CompleteImport,
    /// spaces.messages.create
    MessagesCreate,
    /// spaces.messages.get
    MessagesGet,
    /// spaces.messages.list
    MessagesList,
    /// spaces.messages.patch / update
    MessagesUpdate,
    /// spaces.messages.delete
    MessagesDelete,
    /// spaces.messages.reactions.create
    ReactionsCreate,
    /// spaces.messages.reactions.list
    ReactionsList,
    /// spaces.messages.reactions.delete
    ReactionsDelete,
    /// spaces.members.create
    MembersCreate,
    /// spaces.members.get
    MembersGet,
    /// spaces.members.list
    MembersList,
    /// spaces.members.delete
    MembersDelete,
    /// media.upload
    MediaUpload,
    /// media.download and spaces.messages.attachments.get
    MediaDownload,
}

struct Policy {
    /// User impersonation works on an import-mode space.
    user_in_import: bool,
    /// App auth (chat.bot) works on an import-mode space.
    app_in_import: bool,
    /// App auth works on a normal space.
    app_normal: bool,
    /// User scopes accepted on a normal space (chat.import among them where discovery
    /// lists it).
    user_scopes: &'static [&'static str],
}

fn policy(m: Method) -> Policy {
    use Method::*;
    let p = |user_in_import, app_in_import, app_normal, user_scopes| Policy {
        user_in_import,
        app_in_import,
        app_normal,
        user_scopes,
    };
    match m {
        SpacesCreate => p(true, false, false, &["chat.spaces", "chat.spaces.create", "chat.import"]),
        SpacesGet => p(false, true, true, &["chat.spaces", "chat.spaces.readonly"]),
        SpacesList => p(false, false, true, &["chat.spaces", "chat.spaces.readonly"]),
        SpacesPatch => p(true, false, false, &["chat.spaces", "chat.import"]),
        SpacesDelete => p(true, false, false, &["chat.delete", "chat.import"]),
        CompleteImport => p(true, false, false, &["chat.import"]),
        MessagesCreate => p(true, true, true, &["chat.messages", "chat.messages.create", "chat.import"]),
        MessagesGet => p(false, true, true, &["chat.messages", "chat.messages.readonly"]),
        MessagesList => p(true, false, false, &["chat.messages", "chat.messages.readonly", "chat.import"]),
        MessagesUpdate => p(true, true, true, &["chat.messages", "chat.import"]),
        MessagesDelete => p(true, true, true, &["chat.messages", "chat.import"]),
        ReactionsCreate => p(
            true,
            false,
            false,
            &["chat.messages", "chat.messages.reactions", "chat.messages.reactions.create", "chat.import"],
        ),
        ReactionsList => p(
            false,
            false,
            false,
            &[
                "chat.messages",
                "chat.messages.readonly",
                "chat.messages.reactions",
                "chat.messages.reactions.readonly",
            ],
        ),
        ReactionsDelete => {
            p(true, false, false, &["chat.messages", "chat.messages.reactions", "chat.import"])
        }
        MembersCreate => p(true, false, false, &["chat.memberships", "chat.import"]),
        MembersGet => p(false, false, true, &["chat.memberships", "chat.memberships.readonly"]),
        MembersList => {
            p(true, false, true, &["chat.memberships", "chat.memberships.readonly", "chat.import"])
        }
        MembersDelete => p(true, false, false, &["chat.memberships", "chat.import"]),
        MediaUpload => p(true, false, false, &["chat.messages", "chat.messages.create", "chat.import"]),
        MediaDownload => p(false, false, true, &["chat.messages", "chat.messages.readonly"]),
    }
}

fn has(caller: &GoogleCaller, scope: &str) -> bool {
    caller.scopes.iter().any(|s| s.strip_prefix(PREFIX) == Some(scope))
}

/// Checks the caller may call `method` on `space` (None for methods without a space:
/// spaces.create and spaces.list, which pass `import` for the mode requested).
pub fn authorize(
    method: Method,
    caller: &GoogleCaller,
    space: Option<&ChatSpace>,
    import: bool,
    now: Timestamp,
) -> Result<(), ChatError> {
    let pol = policy(method);
    let in_import = space.map_or(import, |s| s.import_mode);
    if let Some(s) = space {
        if s.import_deadline.is_some() && s.creator_project != caller.project && in_import {
            return Err(ChatError::denied(
                "chat.auth.other_app",
                "Only the Chat app that created an import-mode space can import into it.",
            ));
        }
    }
    match (&caller.user, in_import) {
        (Some(_), true) => {
            if !pol.user_in_import {
                return Err(ChatError::denied(
                    "chat.auth.user_auth_in_import_mode",
                    format!("{method:?} does not support user authentication on a space in import mode; use app authentication."),
                ));
            }
            if !has(caller, "chat.import") {
                return Err(ChatError::denied(
                    "chat.auth.scope",
                    "Request had insufficient authentication scopes: https://www.googleapis.com/auth/chat.import is required in import mode.",
                ));
            }
            Ok(())
        }
        (None, true) => {
            if !pol.app_in_import {
                return Err(ChatError::denied(
                    "chat.auth.app_auth_in_import_mode",
                    format!("{method:?} does not support app authentication on a space in import mode; impersonate a user."),
                ));
            }
            if !has(caller, "chat.bot") {
                return Err(ChatError::denied("chat.auth.scope", "Request had insufficient authentication scopes: chat.bot is required for app authentication."));
            }
            Ok(())
        }
        (Some(_), false) => {
            // chat.import keeps working on a completed import space until its deadline.
            let import_ok = space.is_some_and(|s| {
                s.creator_project == caller.project && s.import_deadline.is_some_and(|d| now < d)
            });
            let ok = pol.user_scopes.iter().any(|s| {
                has(caller, s)
                    && (*s != "chat.import"
                        || import_ok
                        || space.is_none() && method == Method::SpacesCreate && import)
            });
            if ok {
                Ok(())
            } else {
                Err(ChatError::denied(
                    "chat.auth.scope",
                    format!("Request had insufficient authentication scopes for {method:?}."),
                ))
            }
        }
        (None, false) => {
            if !pol.app_normal {
                return Err(ChatError::denied(
                    "chat.auth.app_auth",
                    format!("{method:?} requires user authentication."),
                ));
            }
            // App authentication on a normal space works only for a member app, and an
            // import adds no app membership.
            if let Some(s) = space.filter(|s| s.import_deadline.is_some()) {
                return Err(ChatError::denied(
                    "chat.auth.app_not_member",
                    format!("The Chat app is not a member of {}; app authentication needs membership once import mode ends.", s.name),
                ));
            }
            if !has(caller, "chat.bot") {
                return Err(ChatError::denied("chat.auth.scope", "Request had insufficient authentication scopes: chat.bot is required for app authentication."));
            }
            Ok(())
        }
    }
}
