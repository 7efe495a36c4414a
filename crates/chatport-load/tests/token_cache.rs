//! Google tokens are cached per (user, scope): a request whose token is cached does not
//! wait while another user's token is being fetched.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chatport_emulator::TestCredentials;
use chatport_load::auth::{GoogleAuth, SCOPE_BOT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A token endpoint that answers at once, or, while `hold` is set, never.
async fn token_endpoint(hold: Arc<AtomicBool>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut n = 0u32;
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            n += 1;
            let held = hold.load(Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = sock.read(&mut buf).await;
                if held {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                let body =
                    format!(r#"{{"access_token":"token-{n}","expires_in":3600,"token_type":"Bearer"}}"#);
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_token_is_served_while_another_users_token_is_fetched() {
    let hold = Arc::new(AtomicBool::new(false));
    let base = token_endpoint(hold.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let files = TestCredentials::generate().unwrap().write(dir.path(), Some(&base)).unwrap();
    let auth = Arc::new(GoogleAuth::from_file(&files.google_key, reqwest::Client::new()).unwrap());
    let bob = auth.token(Some("bob@example.com"), SCOPE_BOT).await.unwrap();
    // Ada's fetch hangs at the endpoint.
    hold.store(true, Ordering::SeqCst);
    let slow = {
        let auth = auth.clone();
        tokio::spawn(async move { auth.token(Some("ada@example.com"), SCOPE_BOT).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let again = tokio::time::timeout(Duration::from_secs(5), auth.token(Some("bob@example.com"), SCOPE_BOT))
        .await
        .expect("bob's cached token waited for ada's fetch")
        .unwrap();
    assert_eq!(again, bob);
    slow.abort();
}
