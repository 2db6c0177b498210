//! The documentation's examples must work as written.

use std::path::Path;

fn yaml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```yaml") => current = Some(String::new()),
            (Some(block), l) if l.starts_with("```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

#[test]
fn the_world_format_example_loads_and_builds_a_simulator() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/world.md"))
        .expect("docs/world.md");
    let blocks = yaml_blocks(&doc);
    assert_eq!(blocks.len(), 1);
    let world =
        armsim_simulator::sim::parse_world(&blocks[0], "docs/world.md").expect("example parses");
    assert_eq!(world.behaviour.outcomes.len(), 1);
    armsim_simulator::Simulator::new(armsim_simulator::SimConfig {
        world,
        ..Default::default()
    })
    .expect("example world is consistent");
}

/// The README's curl walkthrough, run as written against `armsim serve --clock manual`.
#[test]
fn the_readme_walkthrough_runs_and_shows_each_rule() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let section = readme
        .split("## A two-minute walkthrough with curl")
        .nth(1)
        .expect("walkthrough section");
    let script = section
        .split("```bash\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("bash block");
    let server = crate::serve::start(&["--clock", "manual", "--tls", "on", "--auth", "strict"]);
    let out = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .env("ARM", server.endpoint())
        .env("CURL_CA_BUNDLE", server.ready_field("ca_cert"))
        .output()
        .expect("bash runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "walkthrough failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "HTTP/2 202",
        "-> HTTP 202",
        "\"provisioningState\":\"Succeeded\"\n-> HTTP 200",
        "\"name\":\"nightly.bak\"",
        "Cannot restore: backup expired\",\"details\":null,\"innerError\":null}} -> HTTP 400",
        "Cannot restore: current SKU is 'Premium', backup SKU is 'Developer'",
        "\"code\":\"BackupFailed\"",
    ] {
        assert!(
            text.contains(want),
            "walkthrough output lacks {want:?}:\n{text}"
        );
    }
}
