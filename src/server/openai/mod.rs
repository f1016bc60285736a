//! The OpenAI-compatible route: Chat Completions requests in, Converse calls out, and the
//! non-streaming `chat.completion` answer.

mod completion;
mod document;
mod request;

pub(crate) use completion::Completion;
pub(crate) use request::ChatRequest;
