//! The `[mock:NAME ARGS… pace=MS]` directive a prompt can start with to pick its reply.

use std::time::Duration;

use super::Reply;

const OPENING: &str = "[mock:";

/// What the start of a prompt asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Directive<'a> {
    /// The prompt has no directive.
    Absent,
    /// A valid directive; `rest` is the text after it, without one following space.
    Valid {
        reply: Reply,
        pace: Option<Duration>,
        rest: &'a str,
    },
    /// Something that starts like a directive but is not a valid one.
    Invalid,
}

/// Reads the directive at the start of `prompt` (leading whitespace allowed). Never panics.
pub(crate) fn parse(prompt: &str) -> Directive<'_> {
    let Some(after_opening) = prompt.trim_start().strip_prefix(OPENING) else {
        return Directive::Absent;
    };
    let Some((inside, rest)) = after_opening.split_once(']') else {
        return Directive::Invalid;
    };
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let mut pace = None;
    let mut words = Vec::new();
    for word in inside.split_whitespace() {
        match word.strip_prefix("pace=") {
            Some(millis) => match millis.parse::<u64>() {
                Ok(millis) => pace = Some(Duration::from_millis(millis)),
                Err(_) => return Directive::Invalid,
            },
            None => words.push(word),
        }
    }
    match reply(&words, rest) {
        Some(reply) => Directive::Valid { reply, pace, rest },
        None => Directive::Invalid,
    }
}

fn reply(words: &[&str], rest: &str) -> Option<Reply> {
    let (name, args) = words.split_first()?;
    let count = |args: &[&str]| match args {
        [count] => count.parse::<usize>().ok(),
        _ => None,
    };
    let reply = match name.to_ascii_lowercase().as_str() {
        "echo" if args.is_empty() => Reply::Echo,
        "text" if args.is_empty() => Reply::Text(rest.to_owned()),
        "unicode" if args.is_empty() => Reply::Unicode,
        "tools" if args.is_empty() => Reply::ToolUse,
        "reasoning" if args.is_empty() => Reply::Reasoning,
        "metadata-first" if args.is_empty() => Reply::MetadataFirst,
        "long" => Reply::Long {
            deltas: count(args)?,
        },
        "clock" => Reply::Clock {
            deltas: count(args)?,
        },
        "stall" => Reply::Stall {
            after: count(args)?,
        },
        "cut" => Reply::Cut {
            after: count(args)?,
        },
        "end-without-stop" => Reply::EndWithoutStop {
            after: count(args)?,
        },
        "http-error" => {
            let [status, error_type, message @ ..] = args else {
                return None;
            };
            let status = status
                .parse::<u16>()
                .ok()
                .filter(|s| (400..=599).contains(s))?;
            Reply::HttpError {
                status,
                error_type: (*error_type).to_owned(),
                message: message_or_default(message, error_type),
            }
        }
        "stream-error" => {
            let [after, exception, message @ ..] = args else {
                return None;
            };
            Reply::StreamError {
                after: after.parse().ok()?,
                exception: (*exception).to_owned(),
                message: message_or_default(message, exception),
            }
        }
        _ => return None,
    };
    Some(reply)
}

fn message_or_default(message: &[&str], error_type: &str) -> String {
    if message.is_empty() {
        format!("{error_type} from the bedrock-sse mock")
    } else {
        message.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(prompt: &str) -> (Reply, Option<Duration>, &str) {
        match parse(prompt) {
            Directive::Valid { reply, pace, rest } => (reply, pace, rest),
            other => panic!("{prompt:?} gave {other:?}"),
        }
    }

    #[test]
    fn plain_prompts_have_no_directive() {
        assert_eq!(parse("hello"), Directive::Absent);
        assert_eq!(parse(""), Directive::Absent);
        assert_eq!(parse("say [mock:echo]"), Directive::Absent);
    }

    #[test]
    fn names_arguments_pace_and_rest() {
        assert_eq!(
            valid("[mock:echo] hi there"),
            (Reply::Echo, None, "hi there")
        );
        assert_eq!(valid("  [mock:echo]  two"), (Reply::Echo, None, " two"));
        assert_eq!(
            valid("[mock:text]abc"),
            (Reply::Text("abc".into()), None, "abc")
        );
        assert_eq!(valid("[mock:TOOLS]").0, Reply::ToolUse);
        assert_eq!(valid("[mock:metadata-first]").0, Reply::MetadataFirst);
        assert_eq!(
            valid("[mock:long 50 pace=20]"),
            (
                Reply::Long { deltas: 50 },
                Some(Duration::from_millis(20)),
                ""
            )
        );
        assert_eq!(
            valid("[mock:pace=5 stall 3]").1,
            Some(Duration::from_millis(5))
        );
        assert_eq!(valid("[mock:cut 3]").0, Reply::Cut { after: 3 });
        assert_eq!(valid("[mock:clock 7]").0, Reply::Clock { deltas: 7 });
        assert_eq!(
            valid("[mock:end-without-stop 0]").0,
            Reply::EndWithoutStop { after: 0 }
        );
        assert_eq!(
            valid("[mock:http-error 429 ThrottlingException Too many requests]").0,
            Reply::HttpError {
                status: 429,
                error_type: "ThrottlingException".into(),
                message: "Too many requests".into(),
            }
        );
        assert_eq!(
            valid("[mock:stream-error 2 throttlingException]").0,
            Reply::StreamError {
                after: 2,
                exception: "throttlingException".into(),
                message: "throttlingException from the bedrock-sse mock".into(),
            }
        );
    }

    #[test]
    fn malformed_directives_are_invalid() {
        for prompt in [
            "[mock:",
            "[mock:echo",
            "[mock:]",
            "[mock:nope]",
            "[mock:echo 1]",
            "[mock:long]",
            "[mock:long -1]",
            "[mock:long 1 2]",
            "[mock:long 99999999999999999999999]",
            "[mock:long 5 pace=soon]",
            "[mock:http-error 200 Fine]",
            "[mock:http-error 70000 X]",
            "[mock:http-error 429]",
            "[mock:stream-error x throttlingException]",
            "[mock:日本語 1]",
        ] {
            assert_eq!(parse(prompt), Directive::Invalid, "{prompt:?}");
        }
    }
}
