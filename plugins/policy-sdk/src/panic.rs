//! Sending a plugin's panic message to the host's log.

use crate::{LogLevel, log};
use std::panic::Location;
use std::sync::Once;

/// Installs, once per instance, a panic hook that sends the panic's location
/// and message to the host's log as an error line,
/// `panicked at src/lib.rs:42: the message`. Without it the host learns only
/// that the plugin trapped ("unreachable executed"). Call it first thing in
/// `configure`, which the host calls on every fresh instance.
pub fn install_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            log(
                LogLevel::Error,
                &panic_line(info.location(), info.payload_as_str()),
            );
        }));
    });
}

/// The log line for a panic at `location` with `message` (`None` when the
/// payload is not a string, as with `std::panic::panic_any`).
fn panic_line(location: Option<&Location<'_>>, message: Option<&str>) -> String {
    let message = message.unwrap_or("(a panic payload that is not a string)");
    match location {
        Some(location) => format!(
            "panicked at {}:{}: {message}",
            location.file(),
            location.line()
        ),
        None => format!("panicked: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_the_file_the_line_and_the_message() {
        let location = Location::caller();
        assert_eq!(
            panic_line(Some(location), Some("settings went missing")),
            format!(
                "panicked at {}:{}: settings went missing",
                file!(),
                location.line()
            )
        );
    }

    #[test]
    fn a_panic_without_a_location_or_a_string_still_makes_a_line() {
        assert_eq!(
            panic_line(None, None),
            "panicked: (a panic payload that is not a string)"
        );
    }
}
