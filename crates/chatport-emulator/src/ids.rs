//! Resource-id generation: random server-assigned ids in the shapes the real services use
//! (Chat `spaces/AAAA…`, Graph GUIDs and `19:…@thread.tacv2` channel ids) and ids derived
//! deterministically from a digest. Owns no state.

use rand::Rng;
use sha2::{Digest, Sha256};

/// SHA-256 of a string.
pub fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Formats the first 16 bytes of a digest as a lowercase GUID.
pub fn guid_from(bytes: &[u8; 32]) -> String {
    let h = hex::encode(&bytes[..16]);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// A random GUID.
pub fn random_guid() -> String {
    let bytes: [u8; 32] = rand::thread_rng().gen();
    guid_from(&bytes)
}

/// A random string of `len` characters from `alphabet`.
pub fn random_from(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len).map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char).collect()
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// A Chat space id such as `AAAAx1y2z3w`.
pub fn chat_space_id() -> String {
    format!("AAAA{}", random_from(ALNUM, 7))
}

/// A Chat system message id such as `Ab3dE_fG1h.Ab3dE_fG1h`.
pub fn chat_message_id() -> String {
    format!("{}.{}", random_from(ALNUM, 11), random_from(ALNUM, 11))
}

/// A short random Chat resource id (threads, reactions, attachments).
pub fn chat_short_id() -> String {
    random_from(ALNUM, 11)
}

/// An opaque random token.
pub fn token(prefix: &str) -> String {
    format!("{prefix}{}", random_from(ALNUM, 40))
}

/// A Graph channel id such as `19:0a1b…@thread.tacv2`.
pub fn graph_channel_id() -> String {
    format!("19:{}@thread.tacv2", random_from(LOWER_ALNUM, 32))
}

/// A Graph drive id such as `b!Xy…`.
pub fn graph_drive_id() -> String {
    format!("b!{}", random_from(ALNUM, 40))
}

/// A Graph driveItem id such as `01ABCDEF…`.
pub fn graph_item_id() -> String {
    format!("01{}", random_from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(random_guid().len(), 36);
        assert!(graph_channel_id().ends_with("@thread.tacv2"));
        assert!(chat_space_id().starts_with("AAAA"));
        assert_eq!(guid_from(&digest("a")), guid_from(&digest("a")));
    }
}
