//! The client's default quotas stay within what the APIs document (api-spec A.4/B.2).

use chatport_load::QuotaOptions;

#[test]
fn chat_space_creation_stays_below_35_per_minute() {
    // Google documents "less than 35" space creations per minute: 35 is already too many.
    let q = QuotaOptions::default();
    assert!(q.chat_space_creates < 35.0, "{}", q.chat_space_creates);
    assert!(q.chat_space_creates > 0.0);
}
