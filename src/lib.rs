//! ModuleCommunication: an in-process message bus for PowerShell modules and C programs.
//!
//! The core is plain Rust: a [`Hub`] owns channels, subscriptions (push, with a worker
//! thread per subscription, or pull, taken in batches) and delivery tracking. Many hubs
//! may live in one process. The C ABI in [`ffi`] (`include/module_communication.h`) is a
//! thin layer over it; its contract is `docs/c-abi.md`.
//!
//! Semantics in brief:
//! - Names compare case-insensitively; patterns follow PowerShell's `-like`.
//! - Each subscription has its own bounded queue with four priority lanes: `Critical`
//!   first, FIFO within a lane, so one publisher's messages keep their order.
//! - A full queue applies the subscription's [`OverflowPolicy`]; every loss is counted.
//! - Expired messages are never delivered; they are counted.
//! - [`Hub::wait_delivered`] waits until every queue a message entered has completed it.
//! - Events ([`Hub::publish_event`]) are messages on event channels with a bounded
//!   history that may be persisted to a file and replayed to new subscribers.
//! - The API registry ([`Hub::registry`], module [`registry`]) holds `Module.Operation`
//!   handlers with parameter schemas; each call runs an explicit stage pipeline (timeout,
//!   middleware by priority, validation, handler).

#![warn(missing_docs)]

mod bus;
mod clock;
mod config;
mod error;
mod events;
mod files;
mod hub;
mod id;
mod json;
mod metrics;
mod setting_values;
mod sync;
mod time_fmt;
mod trace;
mod waits;
mod wildcard;

pub mod ffi;
pub mod registry;
pub mod resilience;
pub mod security;

pub use bus::{
    BusStats, ChannelInfo, ChannelKind, DeliveryMode, DeliveryReport, Envelope, OverflowPolicy, Priority, PublishRequest,
    SubscriptionInfo, SubscriptionOptions,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::Config;
pub use error::Error;
pub use events::{
    EventQuery, EventRequest, EventSubscriptionOptions, HistoryFormat, HistoryInfo, ImportReport, DEFAULT_EVENT_CHANNEL,
};
pub use hub::Hub;
pub use id::{MessageId, SubscriptionId};
pub use metrics::{
    ApiCallRecord, ApiMetrics, ApiUsage, BreakerMetrics, ComponentHealth, EventMetrics, HealthCheck, HealthIssue,
    HealthOptions, HealthReport, HealthStatus, IntervalMetrics, Latency, MessageBusMetrics, MetricsOptions,
    MetricsReport, PerformanceMetrics, SecurityMetrics,
};
pub use trace::{DisableOptions, TraceLevel, TraceOptions, TraceSummary};
pub use wildcard::Pattern;
