//! Linearizable reads: the leader's commit index, confirmed by a quorum (Raft's read index),
//! shared by the reads waiting at the same time; a follower asks the leader for it.

use super::*;

impl Meta {
    /// Waits until this replica has applied everything committed when the call began.
    pub(crate) async fn catch_up(&self) -> Result<(), Error> {
        if self.sole_voter() && !self.is_retired() {
            return Ok(());
        }
        let index = self.inner.barrier.run(|| self.read_index()).await?;
        self.wait_applied(index, self.inner.write_timeout).await
    }

    /// The leader's commit index, confirmed by a quorum.
    pub(super) async fn read_index(&self) -> Result<u64, Error> {
        let deadline = Instant::now() + self.inner.write_timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() || self.is_retired() {
                return Err(self.no_quorum());
            }
            let reply = match self.leader() {
                Leader::Me => self.lead_read_index(remaining).await,
                Leader::At(address) => match self.send(&address, Endpoint::ReadIndex, Vec::new(), remaining).await {
                    Ok(bytes) => decode(&bytes)?,
                    Err(_) => ReadIndexReply::NotLeader(None),
                },
                Leader::Unknown => ReadIndexReply::NotLeader(None),
            };
            match reply {
                ReadIndexReply::Index(index) => return Ok(index),
                ReadIndexReply::NotLeader(_) => tokio::time::sleep(RETRY.min(remaining)).await,
                ReadIndexReply::NoQuorum(why) => return Err(Error::NoQuorum(why)),
            }
        }
    }

    pub(super) async fn lead_read_index(&self, timeout: Duration) -> ReadIndexReply {
        match tokio::time::timeout(timeout, self.inner.raft.get_read_log_id()).await {
            Ok(Ok((read, _))) => ReadIndexReply::Index(read.map_or(0, |l| l.index)),
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => {
                ReadIndexReply::NotLeader(f.leader_node.map(|n| n.addr))
            }
            Ok(Err(_)) | Err(_) => match self.no_quorum() {
                Error::NoQuorum(why) => ReadIndexReply::NoQuorum(why),
                other => ReadIndexReply::NoQuorum(other.to_string()),
            },
        }
    }
}
