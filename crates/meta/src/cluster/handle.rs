//! The messages other replicas send, answered.

use super::*;

impl Meta {
    /// Answers a message from another replica of cluster `cluster`.
    pub async fn handle(&self, cluster: &str, endpoint: Endpoint, body: &[u8]) -> Result<Vec<u8>, Error> {
        if cluster != self.inner.cluster {
            return Err(Error::Refused(format!("a message for cluster {cluster}; this replica belongs to {}", self.inner.cluster)));
        }
        let raft = &self.inner.raft;
        match endpoint {
            Endpoint::AppendEntries => encode(&raft.append_entries(decode(body)?).await),
            Endpoint::Vote => encode(&raft.vote(decode(body)?).await),
            Endpoint::InstallSnapshot => encode(&raft.install_snapshot(decode(body)?).await),
            Endpoint::Write => {
                let proposal: Proposal = decode(body)?;
                encode(&self.lead_write(proposal, self.inner.write_timeout).await)
            }
            Endpoint::ReadIndex => encode(&self.lead_read_index(self.inner.write_timeout).await),
            Endpoint::Status => encode(&self.own_status()),
            // Any replica takes these, and passes them to the leader.
            Endpoint::AddReplica | Endpoint::RemoveReplica => {
                let reply = match self.to_leader(endpoint, decode(body)?).await {
                    Ok(()) => MembershipReply::Done,
                    Err(e) => MembershipReply::Refused(e.to_string()),
                };
                encode(&reply)
            }
            Endpoint::Retire => {
                self.retire();
                encode(&())
            }
        }
    }
}
