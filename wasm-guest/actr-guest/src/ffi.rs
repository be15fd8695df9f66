//! The only unsafe code of the SDK: the `actr.hyper_send` import and the
//! exports' raw pointers.
//!
//! On wasm32 a pointer is a 32-bit offset into linear memory, passed as i32.
//! Elsewhere there is no host: frames go to a sender set by
//! [`crate::testing`], and the raw exports do not exist.

#[cfg(target_arch = "wasm32")]
pub use wasm::{alloc, free, recv};

/// Hands one encoded frame to the host and returns its status.
#[cfg(target_arch = "wasm32")]
pub(crate) fn hyper_send(bytes: &[u8]) -> i32 {
    // A frame is at most MAX_FRAME_BYTES, far below i32::MAX; addresses are
    // 32-bit on wasm32.
    wasm::actr_hyper_send(bytes.as_ptr() as usize as i32, bytes.len() as i32)
}

/// The import with any range.
#[cfg(target_arch = "wasm32")]
pub(crate) fn hyper_send_raw(ptr: i32, len: i32) -> i32 {
    wasm::actr_hyper_send(ptr, len)
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    use std::alloc::{Layout, alloc as allocate, dealloc};

    use actr_core::abi::{HostFrame, MAX_FRAME_BYTES, status};

    use crate::{Actor, runtime};

    #[link(wasm_import_module = "actr")]
    unsafe extern "C" {
        // `safe`: the host only reads `ptr..ptr + len` after checking that it
        // lies inside this module's memory, and copies it before returning,
        // so no argument can break the guest's memory safety.
        #[link_name = "hyper_send"]
        pub(super) safe fn actr_hyper_send(ptr: i32, len: i32) -> i32;
    }

    /// The layout of an ABI buffer of `len` bytes; `None` for a negative
    /// length or one over the frame limit. Zero-length buffers take one byte
    /// so that every buffer is a real allocation.
    fn layout(len: i32) -> Option<Layout> {
        let len = usize::try_from(len).ok().filter(|len| *len <= MAX_FRAME_BYTES)?;
        Layout::from_size_align(len.max(1), 1).ok()
    }

    /// `actr_alloc`: a buffer of `len` bytes, or 0.
    pub fn alloc(len: i32) -> i32 {
        let Some(layout) = layout(len) else { return 0 };
        // SAFETY: the layout's size is at least 1. A null result (out of
        // memory) becomes 0, which the ABI reads as "cannot".
        let ptr = unsafe { allocate(layout) };
        ptr as usize as i32
    }

    /// `actr_free`: gives back a buffer from [`alloc`].
    pub fn free(ptr: i32, len: i32) {
        let Some(layout) = layout(len) else { return };
        if ptr == 0 {
            return;
        }
        // SAFETY: the ABI lets the host free only a buffer it got from
        // `actr_alloc(len)` with the same `len`, so this is the layout it was
        // allocated with.
        unsafe { dealloc(ptr as u32 as usize as *mut u8, layout) }
    }

    /// `actr_recv`: decodes the frame at `ptr..ptr + len`, frees its buffer,
    /// and runs the turn.
    pub fn recv<A: Actor>(ptr: i32, len: i32) -> i32 {
        let Some(layout) = layout(len) else {
            return if len < 0 { status::MALFORMED } else { status::TOO_LARGE };
        };
        if ptr == 0 {
            return status::BAD_POINTER;
        }
        let address = ptr as u32 as usize as *mut u8;
        let frame = {
            // SAFETY: by the ABI the host wrote `len` bytes at `ptr`, into a
            // buffer it got from `actr_alloc(len)`, and hands that buffer over:
            // it is valid for reads of `len` bytes and nobody else uses it.
            let bytes = unsafe { std::slice::from_raw_parts(address, len as usize) };
            HostFrame::decode(bytes)
        };
        // SAFETY: the buffer came from `actr_alloc(len)` (see above), and the
        // decoded frame owns its data, so nothing borrows the buffer any more.
        unsafe { dealloc(address, layout) };
        match frame {
            Ok(frame) => runtime::dispatch::<A>(frame),
            Err(error) => error.status(),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use host_stub::{hyper_send, hyper_send_raw, set_sender};

/// Off wasm32: a swappable sender stands for the host.
#[cfg(not(target_arch = "wasm32"))]
mod host_stub {
    use std::cell::RefCell;

    use actr_core::abi::status;

    /// Takes one encoded frame and returns the status the host would.
    pub(crate) type Sender = Box<dyn FnMut(&[u8]) -> i32>;

    thread_local! {
        static SENDER: RefCell<Option<Sender>> = const { RefCell::new(None) };
    }

    /// Replaces this thread's sender; `None` drops every frame with `OK`.
    pub(crate) fn set_sender(sender: Option<Sender>) {
        SENDER.set(sender);
    }

    pub(crate) fn hyper_send(bytes: &[u8]) -> i32 {
        // Taken out while it runs, so a sender that sends again gets OK
        // instead of a RefCell panic.
        let Some(mut sender) = SENDER.take() else { return status::OK };
        let code = sender(bytes);
        SENDER.with_borrow_mut(|slot| {
            if slot.is_none() {
                *slot = Some(sender);
            }
        });
        code
    }

    /// No memory to point into off wasm32.
    pub(crate) fn hyper_send_raw(_ptr: i32, _len: i32) -> i32 {
        status::BAD_POINTER
    }
}
