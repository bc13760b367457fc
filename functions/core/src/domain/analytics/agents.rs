//! Who fetched an enclosure, by its User-Agent, as the OPAWG user-agents-v2
//! lists say (MIT; vendored under `functions/core/data/opawg/` with their
//! licence and `refresh.sh`). Their rule: the lists are tried in the order
//! bots, apps, libraries, browsers; the first entry whose pattern matches is
//! the answer. Bots (and libraries the list marks as bots) are not
//! listeners; anything else is, attributed to the entry's name.

use regex::RegexSet;
use serde::Deserialize;

const BOTS: &str = include_str!("../../../data/opawg/bots.runtime.json");
const APPS: &str = include_str!("../../../data/opawg/apps.runtime.json");
const LIBRARIES: &str = include_str!("../../../data/opawg/libraries.runtime.json");
const BROWSERS: &str = include_str!("../../../data/opawg/browsers.runtime.json");

/// What a User-Agent is, by the list it matched.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Agent {
    /// Not a listener: never counted.
    Bot(String),
    App(String),
    Library(String),
    Browser(String),
    /// In no list: counted, as `Unknown`.
    Unknown,
}

impl Agent {
    pub fn is_listener(&self) -> bool {
        !matches!(self, Agent::Bot(_))
    }

    /// The app or platform the downloads are attributed to.
    pub fn app(&self) -> &str {
        match self {
            Agent::Bot(n) | Agent::App(n) | Agent::Library(n) | Agent::Browser(n) => n,
            Agent::Unknown => "Unknown",
        }
    }
}

#[derive(Deserialize)]
struct Entries {
    entries: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    name: String,
    pattern: String,
    #[serde(default)]
    category: Option<String>,
}

struct List {
    set: RegexSet,
    entries: Vec<Entry>,
}

impl List {
    fn parse(json: &str) -> List {
        // The vendored files are checked by the tests; a bad refresh fails them, never a request.
        let entries = serde_json::from_str::<Entries>(json).map(|e| e.entries).unwrap_or_default();
        let set = RegexSet::new(entries.iter().map(|e| e.pattern.as_str())).unwrap_or_else(|_| RegexSet::empty());
        List { set, entries }
    }

    /// The first entry (in the list's order) whose pattern matches.
    fn first(&self, ua: &str) -> Option<&Entry> {
        self.set.matches(ua).iter().next().and_then(|i| self.entries.get(i))
    }
}

/// The four lists, compiled once (a few hundred patterns each, matched together).
pub struct Agents {
    bots: List,
    apps: List,
    libraries: List,
    browsers: List,
}

impl Default for Agents {
    fn default() -> Self {
        Self { bots: List::parse(BOTS), apps: List::parse(APPS), libraries: List::parse(LIBRARIES), browsers: List::parse(BROWSERS) }
    }
}

impl Agents {
    /// The lists compiled once per process (a few hundred patterns: too many to compile per log file).
    pub fn shared() -> &'static Agents {
        static SHARED: std::sync::OnceLock<Agents> = std::sync::OnceLock::new();
        SHARED.get_or_init(Agents::default)
    }

    pub fn classify(&self, user_agent: &str) -> Agent {
        // The list's rule: newlines never occur but from bad actors; they are removed.
        let ua: std::borrow::Cow<'_, str> = if user_agent.contains(['\n', '\r']) { user_agent.replace(['\n', '\r'], "").into() } else { user_agent.into() };
        if let Some(e) = self.bots.first(&ua) {
            return Agent::Bot(e.name.clone());
        }
        if let Some(e) = self.apps.first(&ua) {
            return Agent::App(e.name.clone());
        }
        if let Some(e) = self.libraries.first(&ua) {
            return if e.category.as_deref() == Some("bot") { Agent::Bot(e.name.clone()) } else { Agent::Library(e.name.clone()) };
        }
        if let Some(e) = self.browsers.first(&ua) {
            return Agent::Browser(e.name.clone());
        }
        Agent::Unknown
    }

    /// How many patterns each list holds (bots, apps, libraries, browsers).
    pub fn sizes(&self) -> [usize; 4] {
        [self.bots.entries.len(), self.apps.entries.len(), self.libraries.entries.len(), self.browsers.entries.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Examples {
        entries: Vec<Example>,
    }

    #[derive(Deserialize)]
    struct Example {
        name: String,
        #[serde(default)]
        examples: Vec<String>,
    }

    #[test]
    fn every_vendored_list_compiles_whole() {
        let agents = Agents::default();
        let sizes = agents.sizes();
        assert!(sizes.iter().all(|n| *n > 5), "{sizes:?}");
        for (json, n) in [(BOTS, sizes[0]), (APPS, sizes[1]), (LIBRARIES, sizes[2]), (BROWSERS, sizes[3])] {
            assert_eq!(serde_json::from_str::<Entries>(json).expect("json").entries.len(), n, "every pattern compiled");
        }
    }

    /// Each example of the OPAWG `*.examples.json` files is classified as the list says: the
    /// entry it belongs to, from the file it is in (the list's own test, run on our matcher).
    #[test]
    fn every_opawg_example_is_classified_as_the_list_says() {
        let agents = Agents::default();
        let files: [(&str, fn(&Agent) -> Option<&str>); 4] = [
            (include_str!("../../../data/opawg/bots.examples.json"), |a| if let Agent::Bot(n) = a { Some(n) } else { None }),
            (include_str!("../../../data/opawg/apps.examples.json"), |a| if let Agent::App(n) = a { Some(n) } else { None }),
            (include_str!("../../../data/opawg/libraries.examples.json"), |a| match a {
                Agent::Library(n) | Agent::Bot(n) => Some(n),
                _ => None,
            }),
            (include_str!("../../../data/opawg/browsers.examples.json"), |a| if let Agent::Browser(n) = a { Some(n) } else { None }),
        ];
        let mut checked = 0;
        for (json, name_of) in files {
            for entry in serde_json::from_str::<Examples>(json).expect("examples").entries {
                for ua in &entry.examples {
                    let got = agents.classify(ua);
                    assert_eq!(name_of(&got), Some(entry.name.as_str()), "{ua:?} is {}, not {got:?}", entry.name);
                    checked += 1;
                }
            }
        }
        assert!(checked > 500, "{checked} examples");
    }

    #[test]
    fn bots_are_not_listeners_and_the_unknown_are() {
        let agents = Agents::default();
        assert!(!agents.classify("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)").is_listener());
        let overcast = agents.classify("Overcast/3.0 (+http://overcast.fm/; iOS podcast app)");
        assert_eq!((overcast.is_listener(), overcast.app()), (true, "Overcast"));
        assert_eq!(agents.classify("SomethingNobodyKnows/1.0"), Agent::Unknown);
    }
}
