#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]
#![warn(missing_docs, missing_debug_implementations)]
#![deny(unsafe_code)]

pub mod dialect;
mod encoder;
mod error;
pub mod frame;
mod id;
mod options;
mod signal;
mod stream;
mod summary;
mod turn;

#[cfg(feature = "mock")]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub mod mock;

#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod server;

pub use dialect::{Bedrock, Dialect, Format, OpenAi, Text};
pub use encoder::Encoder;
pub use error::{Error, ErrorKind};
pub use options::Options;
pub use stream::{events, SseStream};
pub use summary::{Outcome, Summary, Usage};
pub use turn::{BlockKind, Turn};
