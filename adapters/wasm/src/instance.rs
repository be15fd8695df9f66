//! One sandboxed instance and its turns.

use std::collections::HashMap;

use actr_core::abi::{self, GuestFrame, HostFrame, HostOperation, MAX_FRAME_BYTES, status};
use wasmi::{Caller, Linker, Memory, Store, StoreLimits, StoreLimitsBuilder, TrapCode, TypedFunc};

use crate::engine::WasmModule;
use crate::error::WasmError;
use crate::limits::WasmLimits;

/// What the host keeps inside the store: the limits, the guest's memory,
/// what the guest sent this turn, and which requests are in flight.
struct HostState {
    store_limits: StoreLimits,
    limits: WasmLimits,
    memory: Option<Memory>,
    sent: Vec<GuestFrame>,
    sent_bytes: usize,
    /// Requests in flight, with the operations each has outstanding.
    open: HashMap<u64, u32>,
    pending_ops: usize,
    /// Frames `hyper_send` refused, by anything.
    refused: u64,
}

impl HostState {
    /// Request `request_id` is over: its outstanding operations stop counting.
    fn close(&mut self, request_id: u64) {
        if let Some(ops) = self.open.remove(&request_id) {
            self.pending_ops -= ops as usize;
        }
    }
}

/// One instance of a module. Not shared: one turn at a time.
pub struct WasmInstance {
    store: Store<HostState>,
    memory: Memory,
    alloc: TypedFunc<i32, i32>,
    recv: TypedFunc<(i32, i32), i32>,
    poisoned: bool,
}

impl std::fmt::Debug for WasmInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.store.data();
        f.debug_struct("WasmInstance")
            .field("open", &st.open.len())
            .field("pending_ops", &st.pending_ops)
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

impl WasmInstance {
    pub(crate) fn new(module: &WasmModule) -> Result<Self, WasmError> {
        let limits = module.limits;
        let store_limits = StoreLimitsBuilder::new()
            .memory_size(limits.max_memory_bytes)
            .memories(1)
            .tables(4)
            .table_elements(100_000)
            .instances(1)
            .trap_on_grow_failure(true)
            .build();
        let state = HostState {
            store_limits,
            limits,
            memory: None,
            sent: Vec::new(),
            sent_bytes: 0,
            open: HashMap::new(),
            pending_ops: 0,
            refused: 0,
        };
        let mut store = Store::new(&module.engine, state);
        store.limiter(|st| &mut st.store_limits);
        let load = |e: wasmi::Error| WasmError::Load(e.to_string());
        store.set_fuel(limits.fuel_per_turn).map_err(load)?;
        let mut linker = Linker::<HostState>::new(&module.engine);
        linker
            .func_wrap(abi::IMPORT_MODULE, abi::IMPORT_SEND, hyper_send)
            .map_err(|e| WasmError::Load(e.to_string()))?;
        let instance =
            linker.instantiate_and_start(&mut store, &module.module).map_err(|e| match classify(e, &limits) {
                WasmError::Trap(m) => WasmError::Load(format!("start trapped: {m}")),
                other => other,
            })?;
        let memory = instance
            .get_memory(&store, abi::EXPORT_MEMORY)
            .ok_or_else(|| WasmError::Load("no memory export".into()))?;
        let alloc = instance.get_typed_func::<i32, i32>(&store, abi::EXPORT_ALLOC).map_err(load)?;
        let recv = instance.get_typed_func::<(i32, i32), i32>(&store, abi::EXPORT_RECV).map_err(load)?;
        let version = instance.get_typed_func::<(), i32>(&store, abi::EXPORT_VERSION).map_err(load)?;
        store.set_fuel(limits.fuel_per_turn).map_err(load)?;
        let v = version.call(&mut store, ()).map_err(|e| classify(e, &limits))?;
        if v != abi::ABI_VERSION {
            return Err(WasmError::Load(format!("the guest speaks ABI {v}, this host {}", abi::ABI_VERSION)));
        }
        store.data_mut().memory = Some(memory);
        Ok(Self { store, memory, alloc, recv, poisoned: false })
    }

    /// Whether a trap or a broken ABI made the instance unusable.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Requests in flight.
    pub fn open_requests(&self) -> usize {
        self.store.data().open.len()
    }

    /// Frames the guest sent that the host refused (bad pointer, malformed, busy…).
    pub fn refused_frames(&self) -> u64 {
        self.store.data().refused
    }

    /// Bytes of linear memory the guest uses now.
    pub fn memory_bytes(&self) -> usize {
        self.memory.data_size(&self.store)
    }

    /// Ends request `request_id` without a reply (its deadline passed, its
    /// caller left): whatever the guest sends for it later is refused with
    /// `UNKNOWN_REQUEST`, and results of its operations are not delivered.
    pub fn forget(&mut self, request_id: u64) {
        self.store.data_mut().close(request_id);
    }

    /// Runs one turn: hands `frame` to the guest and returns what it sent.
    ///
    /// A `Request` opens a request (its id must be new and not 0); an
    /// `OpResult` must answer an operation of a request still open. Either
    /// refusal is [`WasmError::Refused`] (past the request limit
    /// [`WasmError::Busy`]), with the guest untouched. A
    /// `Cancel` ends its request here at once (as [`WasmInstance::forget`])
    /// and lets the guest drop the handler. Any other error poisons the
    /// instance.
    pub fn turn(&mut self, frame: &HostFrame) -> Result<Vec<GuestFrame>, WasmError> {
        if self.poisoned {
            return Err(WasmError::Poisoned);
        }
        self.admit(frame)?;
        let bytes = frame.encode();
        let result = self.run(&bytes);
        let st = self.store.data_mut();
        st.sent_bytes = 0;
        let sent = std::mem::take(&mut st.sent);
        match result {
            Ok(()) => Ok(sent),
            Err(e) => {
                self.poisoned = true;
                Err(e)
            }
        }
    }

    fn admit(&mut self, frame: &HostFrame) -> Result<(), WasmError> {
        let st = self.store.data_mut();
        match frame {
            HostFrame::Request { ctx, .. } => {
                let id = ctx.request_id;
                if id == 0 || st.open.contains_key(&id) {
                    return Err(WasmError::Refused(format!("request id {id} is 0 or already in flight")));
                }
                if st.open.len() >= st.limits.max_requests {
                    return Err(WasmError::Busy { in_flight: st.open.len() });
                }
                st.open.insert(id, 0);
            }
            HostFrame::OpResult { request_id, .. } => match st.open.get_mut(request_id) {
                Some(ops) if *ops > 0 => {
                    *ops -= 1;
                    st.pending_ops -= 1;
                }
                _ => return Err(WasmError::Refused(format!("request {request_id} has no operation outstanding"))),
            },
            HostFrame::Cancel { request_id } => st.close(*request_id),
        }
        Ok(())
    }

    fn run(&mut self, bytes: &[u8]) -> Result<(), WasmError> {
        let limits = self.store.data().limits;
        let len = i32::try_from(bytes.len()).map_err(|_| WasmError::Refused("frame too large".into()))?;
        self.store.set_fuel(limits.fuel_per_turn).map_err(|e| WasmError::Trap(e.to_string()))?;
        let ptr = self.alloc.call(&mut self.store, len).map_err(|e| classify(e, &limits))?;
        let start = ptr as u32 as usize;
        let in_memory = start != 0 && start.checked_add(bytes.len()).is_some_and(|end| end <= self.memory_bytes());
        if !in_memory {
            return Err(WasmError::Guest(format!(
                "{} returned {start:#x} for {} bytes, outside its {} bytes of memory",
                abi::EXPORT_ALLOC,
                bytes.len(),
                self.memory_bytes()
            )));
        }
        self.memory.write(&mut self.store, start, bytes).map_err(|e| WasmError::Guest(e.to_string()))?;
        let code = self.recv.call(&mut self.store, (ptr, len)).map_err(|e| classify(e, &limits))?;
        if code != status::OK {
            return Err(WasmError::Guest(format!("{} returned status {code}", abi::EXPORT_RECV)));
        }
        Ok(())
    }
}

/// The host import. Every refusal is a status code to the guest; nothing
/// the guest passes can make the host fail.
fn hyper_send(mut caller: Caller<'_, HostState>, ptr: i32, len: i32) -> i32 {
    let code = take_frame(&mut caller, ptr as u32 as usize, len as u32 as usize);
    if code != status::OK {
        caller.data_mut().refused += 1;
    }
    code
}

fn take_frame(caller: &mut Caller<'_, HostState>, start: usize, len: usize) -> i32 {
    if len > MAX_FRAME_BYTES {
        return status::TOO_LARGE;
    }
    let st = caller.data();
    if st.sent.len() >= st.limits.max_frames_per_turn || st.sent_bytes + len > st.limits.max_turn_bytes {
        return status::BUSY;
    }
    let Some(memory) = st.memory else { return status::GUEST_FAILED };
    let frame = {
        let data = memory.data(&*caller);
        let Some(bytes) = start.checked_add(len).and_then(|end| data.get(start..end)) else {
            return status::BAD_POINTER;
        };
        match GuestFrame::decode(bytes) {
            Ok(f) => f,
            Err(e) => return e.status(),
        }
    };
    let st = caller.data_mut();
    if let HostOperation::Log { message, .. } = &frame.op
        && message.len() > abi::MAX_LOG_BYTES
    {
        return status::TOO_LARGE;
    }
    if !matches!(frame.op, HostOperation::Log { .. }) {
        let Some(ops) = st.open.get_mut(&frame.request_id) else { return status::UNKNOWN_REQUEST };
        if frame.op.has_result() {
            if st.pending_ops >= st.limits.max_pending_ops {
                return status::BUSY;
            }
            *ops += 1;
            st.pending_ops += 1;
        }
        if matches!(frame.op, HostOperation::Reply { .. }) {
            // The request ends; results of what it still waits for are not delivered.
            st.close(frame.request_id);
        }
    }
    st.sent_bytes += len;
    st.sent.push(frame);
    status::OK
}

fn classify(e: wasmi::Error, limits: &WasmLimits) -> WasmError {
    match e.as_trap_code() {
        Some(TrapCode::OutOfFuel) => WasmError::OutOfFuel { fuel: limits.fuel_per_turn },
        Some(TrapCode::GrowthOperationLimited) => WasmError::MemoryLimit { limit: limits.max_memory_bytes },
        _ if matches!(e.kind(), wasmi::errors::ErrorKind::Fuel(_)) => {
            WasmError::OutOfFuel { fuel: limits.fuel_per_turn }
        }
        _ => {
            let mut m = e.to_string();
            m.truncate(512);
            WasmError::Trap(m)
        }
    }
}
