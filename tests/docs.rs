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
