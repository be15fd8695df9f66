//! Where arriving work runs: the [`mailbox`] that runs in-process tells,
//! and the [`streams`] registries that hand data-stream chunks and media
//! samples to their handlers.

pub(crate) mod mailbox;
pub mod streams;
