//! `rollcall formats`: the consumer formats rollcall ships, one paragraph
//! each: the name, what it holds, and what it feeds.

use super::{Failure, print};
use crate::settings::Bundled;

pub fn run() -> Result<(), Failure> {
    print(&listing())
}

/// The listing `rollcall formats` prints.
fn listing() -> String {
    let mut text = String::new();
    for format in Bundled::ALL {
        text += &format!(
            "{}\n    {}\n    feeds: {}\n",
            format.name(),
            format.summary(),
            format.feeds()
        );
    }
    text += "\nUse one with `rollcall resolve --format NAME` or a file sink's `format = \"NAME\"`;\n\
             `--format template:FILE` takes a template of your own (README \"Templates\").\n";
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_format_is_listed_with_what_it_feeds() {
        let text = listing();
        for format in Bundled::ALL {
            assert!(
                text.contains(&format!(
                    "{}\n    {}\n    feeds: {}\n",
                    format.name(),
                    format.summary(),
                    format.feeds()
                )),
                "{text}"
            );
        }
    }
}
