//! Secrets never leak: after a full backup and restore and every error path that involves a key or a
//! token, the storage keys and the bearer token appear nowhere but in the answers that must carry them
//! (listKeys, regenerateKey, `GET /_armsim/state?secrets=true`): not in the journal, the server's debug
//! logs, the default state dump, or any error message.

use serde_json::{json, Value};

use crate::common::http1::{call_as, raw, Served};
use crate::common::{storage, svc, with_version, V};

const TOKEN: &str = "eyJhbGciOiJub25lIn0.armsim-secret-bearer-4711.sig";
const CLIENT_SECRET: &str = "armsim-client-secret-0815";

#[test]
fn keys_and_tokens_appear_in_no_log_journal_dump_or_error() {
    let s = Served::start(&["--clock", "manual"], &[("ARMSIM_LOG", "debug")]);
    let bearer = format!("Bearer {TOKEN}");
    // Everything a client could see, except the answers whose job is to carry a key.
    let mut seen = String::new();
    let go =
        |seen: &mut String, method: &str, path: &str, body: Option<&Value>, carries_keys: bool| {
            let r = call_as(&s.addr, &bearer, method, path, body).expect("answer");
            if !carries_keys {
                seen.push_str(&format!("{} {:?} {}\n", r.status, r.headers, r.text()));
            }
            r
        };
    let keys_path = with_version(&format!("{}/listKeys", storage()), V);
    let keys = go(&mut seen, "POST", &keys_path, None, true).json();
    let key = |i: usize| keys["keys"][i]["value"].as_str().expect("key").to_string();
    let (key1, key2) = (key(0), key(1));
    let body = |k: &str, blob: &str| {
        json!({"storageAccount": "contosobackups", "containerName": "apim-backups", "backupName": blob,
               "accessType": "AccessKey", "accessKey": k})
    };
    let backup = with_version(&format!("{}/backup", svc("contoso-apim")), V);
    let restore = with_version(&format!("{}/restore", svc("contoso-apim-dr")), V);
    let advance = |by: &str| json!({"by": by});

    // The happy path: backup, poll, restore, poll.
    let r = go(
        &mut seen,
        "POST",
        &backup,
        Some(&body(&key1, "full")),
        false,
    );
    assert_eq!(r.status, 202, "{}", r.text());
    go(
        &mut seen,
        "POST",
        "/_armsim/clock/advance",
        Some(&advance("9m")),
        false,
    );
    let r = go(
        &mut seen,
        "POST",
        &restore,
        Some(&body(&key2, "full")),
        false,
    );
    assert_eq!(r.status, 202, "{}", r.text());
    go(
        &mut seen,
        "POST",
        "/_armsim/clock/advance",
        Some(&advance("30m")),
        false,
    );
    // Error paths: a wrong key, a regenerated key, a key in malformed JSON and in a non-JSON body.
    let wrong = format!("{key1}x");
    let r = go(&mut seen, "POST", &backup, Some(&body(&wrong, "w")), false);
    assert_eq!(r.status, 400, "{}", r.text());
    let regen = with_version(&format!("{}/regenerateKey", storage()), V);
    let fresh = go(
        &mut seen,
        "POST",
        &regen,
        Some(&json!({"keyName": "key2"})),
        true,
    )
    .json();
    let key2_new = fresh["keys"][1]["value"].as_str().expect("key").to_string();
    assert_ne!(key2_new, key2);
    let r = go(&mut seen, "POST", &backup, Some(&body(&key2, "old")), false);
    assert_eq!(r.status, 400, "a regenerated key is refused: {}", r.text());
    let malformed = format!("{{\"accessKey\": \"{key1}\", ");
    let r = raw(&s.addr, format!("POST {backup} HTTP/1.1\r\nhost: x\r\nauthorization: {bearer}\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{malformed}", malformed.len()).as_bytes()).expect("answer");
    seen.push_str(&r.text());
    let r = raw(&s.addr, format!("POST {backup} HTTP/1.1\r\nhost: x\r\nauthorization: {bearer}\r\ncontent-type: text/plain\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{key1}", key1.len()).as_bytes()).expect("answer");
    seen.push_str(&r.text());
    // A token sent with the wrong scheme, and a client secret posted to a route that does not exist.
    let r = call_as(
        &s.addr,
        &format!("Basic {TOKEN}"),
        "GET",
        &with_version(&svc("contoso-apim"), V),
        None,
    )
    .expect("answer");
    assert_eq!(r.status, 401);
    seen.push_str(&r.text());
    let form = format!("grant_type=client_credentials&client_id=app&client_secret={CLIENT_SECRET}");
    let r = raw(&s.addr, format!("POST /tenant/oauth2/v2.0/token HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{form}", form.len()).as_bytes()).expect("answer");
    seen.push_str(&r.text());
    // A state dump with secrets shown, so the journal has one to redact too.
    let dump_with_keys = go(&mut seen, "GET", "/_armsim/state?secrets=true", None, true).text();
    assert!(
        dump_with_keys.contains(&key1),
        "secrets=true shows the keys"
    );

    let journal = go(&mut seen, "GET", "/_armsim/journal", None, false).text();
    let dump = go(&mut seen, "GET", "/_armsim/state", None, false).text();
    let yaml = go(&mut seen, "GET", "/_armsim/state?format=yaml", None, false).text();
    assert!(dump.contains("<redacted>") && journal.contains("<redacted>"));
    std::thread::sleep(std::time::Duration::from_millis(200)); // let stderr drain
    let logs = s.logs();
    assert!(
        logs.contains("DEBUG") || logs.contains("INFO"),
        "logs were captured: {logs}"
    );
    for (what, text) in [
        ("journal", &journal),
        ("state dump", &dump),
        ("YAML state dump", &yaml),
        ("logs", &logs),
        ("answers", &seen),
    ] {
        for (name, secret) in [
            ("key1", &key1),
            ("key2", &key2),
            ("new key2", &key2_new),
            ("token", &TOKEN.to_string()),
            ("client secret", &CLIENT_SECRET.to_string()),
        ] {
            assert!(
                !text.contains(secret.as_str()),
                "the {name} leaked into the {what}"
            );
        }
    }
}

#[test]
fn a_redacted_dump_loads_back_keeping_the_keys_clients_hold() {
    let s = Served::start(&["--clock", "manual"], &[]);
    let keys_path = with_version(&format!("{}/listKeys", storage()), V);
    let before = s.call("POST", &keys_path, None).json();
    let dump = s.call("GET", "/_armsim/state", None).text();
    let put = raw(&s.addr, format!("PUT /_armsim/state HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{dump}", dump.len()).as_bytes()).expect("answer");
    assert_eq!(put.status, 200, "{}", put.text());
    assert_eq!(s.call("POST", &keys_path, None).json(), before);
}
