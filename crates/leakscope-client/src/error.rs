//! Why a connection or a request failed, phrased for a one-line message.

/// Every way reaching a target can fail. Each displays as one line naming the address; the CLI
/// prints it and exits with code 2.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The address does not parse.
    #[error("invalid address `{input}`: {reason}")]
    InvalidAddress {
        /// What the user typed.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Nothing accepted a connection there.
    #[error("cannot connect to {addr}: {reason}")]
    Unreachable {
        /// The target.
        addr: String,
        /// The transport's reason (connection refused, no route...).
        reason: String,
    },
    /// Something answered, but not a leakscope agent nor console-subscriber.
    #[error("{addr} is not a leakscope agent or console-subscriber endpoint: {reason}")]
    NotAnAgent {
        /// The target.
        addr: String,
        /// What it answered instead.
        reason: String,
    },
    /// A leakscope agent speaking a protocol version this client does not.
    #[error(
        "incompatible protocol at {addr}: the agent speaks leakscope protocol v{theirs}, this client speaks v{ours}"
    )]
    Incompatible {
        /// The target.
        addr: String,
        /// The agent's version.
        theirs: u32,
        /// Ours.
        ours: u32,
    },
    /// A request after the handshake failed.
    #[error("{what} from {addr} failed: {reason}")]
    Request {
        /// Which request.
        what: &'static str,
        /// The target.
        addr: String,
        /// The status message.
        reason: String,
    },
    /// The target closed the stream.
    #[error("{addr} closed the connection")]
    Disconnected {
        /// The target.
        addr: String,
    },
}
