//! The one error type of the core. Every message names the offending value and says what
//! to do next; the C ABI maps each variant to one `mc_status`.

use std::fmt;

use crate::id::{MessageId, SubscriptionId};

/// Why an operation of the hub failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A JSON argument did not parse, or parsed into the wrong shape.
    InvalidJson {
        /// What the JSON was meant to describe ("message", "subscription options", …).
        what: &'static str,
        /// The parser's complaint.
        detail: String,
        /// A short example of the expected shape.
        expected: &'static str,
    },
    /// A value is out of range: an empty name, a zero capacity, an unknown priority, …
    InvalidArgument {
        /// The parameter or JSON key that was wrong.
        name: String,
        /// The offending value, as given (cut after 200 characters, with its length).
        value: String,
        /// What is allowed, and what to do instead.
        reason: String,
    },
    /// No channel of that name exists.
    ChannelNotFound {
        /// The name as given by the caller.
        name: String,
    },
    /// A channel of that name (compared case-insensitively) exists already.
    ChannelExists {
        /// The name as given by the caller.
        name: String,
        /// The name the existing channel was created with.
        existing: String,
    },
    /// No subscription has that id (it never existed or was unsubscribed).
    SubscriptionNotFound {
        /// The id that was not found.
        id: SubscriptionId,
    },
    /// Subscriptions with the `Reject` overflow policy refused the message; the other
    /// matching subscriptions received it.
    QueueFull {
        /// The id of the published message.
        message_id: MessageId,
        /// How many subscriptions refused it.
        rejected: usize,
    },
    /// The caller cancelled the operation before it did anything.
    Cancelled {
        /// What was cancelled.
        operation: String,
    },
    /// A wait ended before its condition held.
    Timeout {
        /// What was being waited for.
        operation: String,
        /// How long the caller allowed, in milliseconds.
        timeout_ms: u64,
    },
    /// A file (the event history file, an export or an import) could not be read or
    /// written. Nothing stored was changed by the failed operation.
    Io {
        /// The file.
        path: String,
        /// What was being done ("append to the event history file", …).
        operation: String,
        /// What went wrong, in plain words, and what to do about it.
        detail: String,
    },
    /// A file holds a record that cannot be read (not a torn last line, which is skipped
    /// with a warning). The file is left as it is.
    CorruptFile {
        /// The file.
        path: String,
        /// The 1-based line (or CSV record) number.
        line: usize,
        /// What is wrong with it.
        detail: String,
    },
    /// Security is on and the operation needs a valid authentication token: none was
    /// given, or it is unknown, expired or revoked (one message for all three).
    AuthenticationFailed {
        /// What was refused and what to do; never contains token text.
        message: String,
    },
    /// The token is valid but does not allow the operation: a missing scope, a module
    /// outside the allowed modules, or another module's token.
    AuthorizationFailed {
        /// What was refused and what to do; never contains token text.
        message: String,
    },
    /// Something inside the library went wrong (for example the OS refused to start a
    /// worker thread). The hub is still usable.
    Internal {
        /// What failed.
        message: String,
    },
}

impl Error {
    /// `operation` on the file `path` failed with `e`, explained as [`crate::files::explain`] does.
    pub(crate) fn io(path: impl AsRef<std::path::Path>, operation: impl Into<String>, e: &std::io::Error) -> Self {
        let path = path.as_ref();
        Error::Io {
            path: path.display().to_string(),
            operation: operation.into(),
            detail: crate::files::explain(path, e),
        }
    }

    pub(crate) fn invalid(name: impl Into<String>, value: impl fmt::Display, reason: impl Into<String>) -> Self {
        Error::InvalidArgument { name: name.into(), value: shown(value.to_string()), reason: reason.into() }
    }
}

/// How many characters of a bad value an error repeats: enough to recognise it, while a
/// 100,000-character name does not make a 100,000-character message.
const SHOWN_CHARS: usize = 200;

/// `value`, cut after [`SHOWN_CHARS`] characters with a note of its length.
fn shown(mut value: String) -> String {
    if let Some((cut, _)) = value.char_indices().nth(SHOWN_CHARS) {
        let total = value.chars().count();
        value.truncate(cut);
        value.push_str(&format!("… ({total} characters)"));
    }
    value
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidJson { what, detail, expected } => {
                write!(f, "the {what} JSON is not valid: {detail}; expected an object like {expected}")
            }
            Error::InvalidArgument { name, value, reason } => {
                write!(f, "invalid {name} '{value}': {reason}")
            }
            Error::ChannelNotFound { name } => write!(
                f,
                "channel '{name}' does not exist; create it with New-MessageChannel (mc_channel_create) first"
            ),
            Error::ChannelExists { name, existing } => write!(
                f,
                "channel '{name}' already exists (as '{existing}'; names compare case-insensitively); \
                 use the existing channel, or remove it first with Remove-MessageChannel (mc_channel_remove)"
            ),
            Error::SubscriptionNotFound { id } => write!(
                f,
                "subscription {id} does not exist (never created, or already unsubscribed); \
                 list the current ones with Get-MessageSubscriptions (mc_subscription_list)"
            ),
            Error::QueueFull { message_id, rejected } => write!(
                f,
                "message {message_id} was refused by {rejected} subscription(s) whose queue is full and whose \
                 overflow policy is Reject; the other subscriptions received it. Let the subscriber catch up, \
                 raise its capacity, or choose another overflow policy"
            ),
            Error::Cancelled { operation } => write!(f, "{operation} was cancelled before it did anything"),
            Error::Timeout { operation, timeout_ms } => write!(
                f,
                "{operation} did not complete within {timeout_ms} ms; wait longer, or check that the processor \
                 is running (mc_processor_state) and that subscribers consume their queues"
            ),
            Error::Io { path, operation, detail } => write!(f, "could not {operation} '{path}': {detail}"),
            Error::CorruptFile { path, line, detail } => write!(
                f,
                "'{path}' is corrupt at line {line}: {detail}; the file was left unchanged. Repair or move \
                 the file, or choose another path"
            ),
            Error::AuthenticationFailed { message } | Error::AuthorizationFailed { message } => f.write_str(message),
            Error::Internal { message } => write!(f, "internal error: {message}; the hub is still usable"),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_not_found_names_channel_and_remedy() {
        let e = Error::ChannelNotFound { name: "Foo".into() };
        assert_eq!(
            e.to_string(),
            "channel 'Foo' does not exist; create it with New-MessageChannel (mc_channel_create) first"
        );
    }

    #[test]
    fn invalid_argument_names_parameter_and_value() {
        let e = Error::invalid("priority", "Urgent", "use Low, Normal, High or Critical");
        assert_eq!(e.to_string(), "invalid priority 'Urgent': use Low, Normal, High or Critical");
    }

    #[test]
    fn a_long_bad_value_is_cut_with_its_length() {
        let e = Error::invalid("name", "é".repeat(100_000), "shorten it");
        assert_eq!(e.to_string(), format!("invalid name '{}… (100000 characters)': shorten it", "é".repeat(200)));
        let e = Error::invalid("name", "x".repeat(200), "fine");
        assert_eq!(e.to_string(), format!("invalid name '{}': fine", "x".repeat(200)));
    }
}
