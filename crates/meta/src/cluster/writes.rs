//! Writes: proposed by the leader; a follower forwards them and answers once it has
//! applied them itself. Without a quorum they fail after `write_timeout`.

use super::*;

impl Meta {
    /// Applies one command: the only way metadata changes. Answers once a majority of
    /// the replicas hold it durably and this replica has applied it.
    /// The command carries its origin (see [`crate::origin`]): the request or job
    /// proposing it, stamped now.
    pub async fn apply(&self, command: Command) -> Result<Applied, Error> {
        let proposal = Proposal { command, origin: Some(crate::origin::stamp_now()) };
        let deadline = Instant::now() + self.inner.write_timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() || self.is_retired() {
                return Err(self.no_quorum());
            }
            let (reply, forwarded) = match self.leader() {
                Leader::Me => (self.lead_write(proposal.clone(), remaining).await, false),
                Leader::At(address) => {
                    let body = encode(&proposal)?;
                    match self.send(&address, Endpoint::Write, body, remaining).await {
                        Ok(bytes) => (decode(&bytes)?, true),
                        Err(e) if !e.sent => (WriteReply::NotLeader(None), true),
                        Err(e) => {
                            return Err(Error::Unavailable(format!(
                                "the leader did not answer ({e}); the change may or may not have been made"
                            )));
                        }
                    }
                }
                Leader::Unknown => (WriteReply::NotLeader(None), false),
            };
            match reply {
                WriteReply::Written { outcome, index } => {
                    if forwarded {
                        let remaining = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
                        // The write is committed; only this replica's copy may lag.
                        if self.wait_applied(index, remaining).await.is_err() {
                            tracing::warn!(index, "a forwarded write was answered before this replica applied it");
                        }
                    }
                    return match outcome {
                        Outcome::Applied(applied) => Ok(applied),
                        Outcome::Failed(why) => Err(Error::Task(format!("applying the change failed: {why}"))),
                    };
                }
                WriteReply::NotLeader(_) => tokio::time::sleep(RETRY.min(remaining)).await,
                WriteReply::NoQuorum(why) => return Err(Error::NoQuorum(why)),
                WriteReply::Failed(why) => return Err(Error::Task(why)),
            }
        }
    }

    /// Proposes `proposal` as the leader.
    pub(super) async fn lead_write(&self, proposal: Proposal, timeout: Duration) -> WriteReply {
        match tokio::time::timeout(timeout, self.inner.raft.client_write(proposal)).await {
            Ok(Ok(response)) => WriteReply::Written { outcome: response.data, index: response.log_id.index },
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => WriteReply::NotLeader(f.leader_node.map(|n| n.addr)),
            Ok(Err(e)) => WriteReply::Failed(format!("replication: {e}")),
            Err(_) => match self.no_quorum() {
                Error::NoQuorum(why) => WriteReply::NoQuorum(why),
                other => WriteReply::Failed(other.to_string()),
            },
        }
    }

    /// Waits until this replica has applied the entry at `index`.
    pub(super) async fn wait_applied(&self, index: u64, timeout: Duration) -> Result<(), Error> {
        self.inner
            .raft
            .wait(Some(timeout))
            .applied_index_at_least(Some(index), "catch up")
            .await
            .map(|_| ())
            .map_err(|_| Error::NoQuorum(format!("replica {} has not caught up with the leader", self.replica_id())))
    }
}
