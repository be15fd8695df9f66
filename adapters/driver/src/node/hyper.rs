//! [`Hyper`]: the entry point that makes nodes on a runtime, and the
//! in-process registry its nodes share.

use std::sync::Arc;

use actr_core::package::{PackageError, VerifiedPackage};

use actr_wasm::WasmEngine;

use crate::gate::in_process::InProcessRegistry;
use crate::node::config::HyperConfig;
use crate::node::lifecycle::{Init, Node};
use crate::runtime::Runtime;

/// Makes nodes on one runtime from one configuration.
///
/// ```no_run
/// # async fn demo<R: actr_driver::Runtime>(rt: R, echo: impl actr_driver::Workload) -> Result<(), actr_core::ActrError> {
/// use actr_driver::{Hyper, HyperConfig};
/// let hyper = Hyper::new(rt, HyperConfig::new("http://127.0.0.1:7480", actr_core::Realm(1)));
/// let actor = hyper.node().link(echo).register().await?.start().await?;
/// let reply = actor.call_local("echo.Echo.Say", b"hi".to_vec()).await?;
/// # let _ = reply; Ok(()) }
/// ```
///
/// The nodes of one `Hyper` (and of its clones) that share the process
/// ([`HyperConfig::share_process`]) reach each other in-process; nodes of
/// two different `Hyper`s reach each other only over the network.
#[derive(Debug, Clone)]
pub struct Hyper<R: Runtime> {
    rt: R,
    config: HyperConfig,
    registry: Arc<InProcessRegistry>,
    /// Compiles and caches the modules of attached WASM packages.
    wasm: WasmEngine,
}

impl<R: Runtime> Hyper<R> {
    /// A `Hyper` with a registry of its own.
    pub fn new(rt: R, config: HyperConfig) -> Self {
        let wasm = WasmEngine::new(config.wasm_limits);
        Self { rt, config, registry: Arc::default(), wasm }
    }

    pub fn config(&self) -> &HyperConfig {
        &self.config
    }

    /// A fresh node; link a workload to it next.
    pub fn node(&self) -> Node<R, Init> {
        self.node_with(self.config.clone())
    }

    /// A fresh node with a configuration of its own (a seed, a listener…)
    /// that still shares this `Hyper`'s in-process registry.
    pub fn node_with(&self, config: HyperConfig) -> Node<R, Init> {
        Node::new(self.rt.clone(), config, self.registry.clone(), self.wasm.clone())
    }

    /// Verifies a `.actr` package with the configured trust, on the
    /// runtime's blocking pool (a registry lookup blocks). Nothing from the
    /// package may be used unless this returns `Ok`.
    pub async fn verify_package(&self, package: impl Into<bytes::Bytes>) -> Result<VerifiedPackage, PackageError> {
        let trust = self.config.trust.clone().ok_or(PackageError::NoTrustConfigured)?;
        let limits = self.config.package_limits;
        let package = package.into();
        crate::runtime::run_blocking(&self.rt, move || trust.verify(&package, &limits))
            .await
            .map_err(|e| PackageError::Internal(e.to_string()))?
    }
}
