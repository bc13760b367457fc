//! An episode's track list as a Podcasting 2.0 chapters file (JSON, version
//! 1.2.0), published next to the feed and linked with `podcast:chapters`.

use serde_json::{json, Value};

use crate::domain::Track;

pub const CONTENT_TYPE: &str = "application/json+chapters";

pub fn chapters_json(tracks: &[Track]) -> Value {
    let chapters: Vec<Value> = tracks
        .iter()
        .map(|t| json!({ "startTime": t.offset, "title": format!("{} – {}", t.artist, t.title) }))
        .collect();
    json!({ "version": "1.2.0", "chapters": chapters })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_become_chapters_in_order() {
        let tracks = vec![
            Track { artist: "Beirut".into(), title: "Elephant Gun".into(), offset: 754 },
            Track { artist: "A".into(), title: "B".into(), offset: 900 },
        ];
        let c = chapters_json(&tracks);
        assert_eq!(c["version"], "1.2.0");
        assert_eq!(c["chapters"][0], json!({"startTime": 754, "title": "Beirut – Elephant Gun"}));
        assert_eq!(c["chapters"][1]["startTime"], 900);
    }
}
