//! Membership changes, always made by the leader: adding a replica (learner, caught up,
//! then voter), removing one (refused when the quorum would be lost), and retiring.

use super::*;

impl Meta {
    /// Sends a membership change to the leader, wherever it is.
    pub(super) async fn to_leader(&self, endpoint: Endpoint, request: MembershipRequest) -> Result<(), Error> {
        let deadline = Instant::now() + MEMBERSHIP_TIMEOUT;
        let body = encode(&request)?;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(self.no_quorum());
            }
            let reply = match self.leader() {
                Leader::Me if endpoint == Endpoint::AddReplica => self.lead_add(decode(&body)?).await,
                Leader::Me => self.lead_remove(decode(&body)?).await,
                Leader::At(address) => match self.send(&address, endpoint, body.clone(), remaining).await {
                    Ok(bytes) => decode(&bytes)?,
                    Err(e) if !e.sent => MembershipReply::NotLeader(None),
                    Err(e) => return Err(Error::Unavailable(format!("the leader did not answer: {e}"))),
                },
                Leader::Unknown => MembershipReply::NotLeader(None),
            };
            match reply {
                MembershipReply::Done => return Ok(()),
                MembershipReply::NotLeader(_) => tokio::time::sleep(Duration::from_millis(200).min(remaining)).await,
                MembershipReply::Refused(why) => return Err(Error::Refused(why)),
            }
        }
    }

    /// Adds a replica: the leader sends it a snapshot and the log until it has caught
    /// up, as a learner, then makes it a voter.
    pub async fn add_replica(&self, replica: u64, address: &str) -> Result<(), Error> {
        self.to_leader(Endpoint::AddReplica, MembershipRequest { replica, address: address.to_owned() }).await
    }

    /// Removes a replica, refused when the replicas left would not have a healthy
    /// majority; then tells it to stop taking part.
    pub async fn remove_replica(&self, replica: u64) -> Result<(), Error> {
        self.to_leader(Endpoint::RemoveReplica, MembershipRequest { replica, address: String::new() }).await
    }

    pub(super) fn not_leader(&self) -> Option<MembershipReply> {
        match self.leader() {
            Leader::Me => None,
            Leader::At(address) => Some(MembershipReply::NotLeader(Some(address))),
            Leader::Unknown => Some(MembershipReply::NotLeader(None)),
        }
    }

    pub(super) async fn lead_add(&self, request: MembershipRequest) -> MembershipReply {
        if let Some(reply) = self.not_leader() {
            return reply;
        }
        let raft = &self.inner.raft;
        let node = BasicNode::new(&request.address);
        let name = replica::format_id(request.replica);
        tracing::info!(replica = %name, address = %request.address, "adding a replica: catching up as a learner");
        match tokio::time::timeout(MEMBERSHIP_TIMEOUT, raft.add_learner(request.replica, node, true)).await {
            Ok(Ok(_)) => {}
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                return MembershipReply::NotLeader(f.leader_node.map(|n| n.addr));
            }
            Ok(Err(e)) => return MembershipReply::Refused(format!("adding replica {name}: {e}")),
            Err(_) => return MembershipReply::Refused(format!("replica {name} did not catch up in time")),
        }
        let voters = BTreeSet::from([request.replica]);
        match tokio::time::timeout(MEMBERSHIP_TIMEOUT, raft.change_membership(ChangeMembers::AddVoterIds(voters), false)).await {
            Ok(Ok(_)) => {
                tracing::info!(replica = %name, "replica added as a voter");
                MembershipReply::Done
            }
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => MembershipReply::NotLeader(f.leader_node.map(|n| n.addr)),
            Ok(Err(e)) => MembershipReply::Refused(format!("making replica {name} a voter: {e}")),
            Err(_) => MembershipReply::Refused(format!("making replica {name} a voter took too long")),
        }
    }

    pub(super) async fn lead_remove(&self, request: MembershipRequest) -> MembershipReply {
        if let Some(reply) = self.not_leader() {
            return reply;
        }
        let name = replica::format_id(request.replica);
        let m = self.metrics();
        let Some(node) = m.membership_config.membership().get_node(&request.replica).cloned() else {
            return MembershipReply::Refused(format!("there is no replica {name} in the cluster"));
        };
        let voters: BTreeSet<u64> = m.membership_config.voter_ids().collect();
        let remaining: Vec<u64> = voters.iter().copied().filter(|id| *id != request.replica).collect();
        if remaining.is_empty() {
            return MembershipReply::Refused(format!("replica {name} is the last one; a cluster cannot be emptied"));
        }
        let status = self.status().await;
        let healthy = status.members.iter().filter(|s| s.reachable && remaining.iter().any(|id| replica::format_id(*id) == s.id)).count();
        let need = remaining.len() / 2 + 1;
        if healthy < need {
            return MembershipReply::Refused(format!(
                "removing replica {name} would leave {healthy} healthy of {} replicas, fewer than the {need} a quorum needs",
                remaining.len()
            ));
        }
        let change = if voters.contains(&request.replica) {
            ChangeMembers::RemoveVoters(BTreeSet::from([request.replica]))
        } else {
            ChangeMembers::RemoveNodes(BTreeSet::from([request.replica]))
        };
        match tokio::time::timeout(MEMBERSHIP_TIMEOUT, self.inner.raft.change_membership(change, false)).await {
            Ok(Ok(_)) => {}
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                return MembershipReply::NotLeader(f.leader_node.map(|n| n.addr));
            }
            Ok(Err(e)) => return MembershipReply::Refused(format!("removing replica {name}: {e}")),
            Err(_) => return MembershipReply::Refused(format!("removing replica {name} took too long")),
        }
        tracing::info!(replica = %name, "replica removed");
        if request.replica == self.inner.id {
            self.retire();
        } else if let Err(e) = self.send(&node.addr, Endpoint::Retire, Vec::new(), STATUS_TIMEOUT).await {
            tracing::warn!(replica = %name, error = %e, "the removed replica was not told; stop it by hand");
        }
        MembershipReply::Done
    }

    /// Stops taking part: removed from the cluster, this replica must not vote or lead
    /// again (its data is left as it was; it must be wiped before it joins again).
    pub(super) fn retire(&self) {
        if self.inner.retired.swap(true, Ordering::SeqCst) {
            return;
        }
        tracing::warn!(replica = %self.replica_id(), "this replica was removed from its cluster; it no longer takes part");
        let raft = self.inner.raft.clone();
        tokio::spawn(async move {
            // Let the answer to the leader go out first.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let _ = raft.shutdown().await;
        });
    }

    /// Asks the cluster, through the replica at `existing`, to add this one: it returns
    /// once this replica has caught up and votes.
    pub async fn ask_to_join(&self, existing: &str) -> Result<(), Error> {
        let request = MembershipRequest { replica: self.inner.id, address: self.inner.address.clone() };
        let bytes = self
            .send(existing, Endpoint::AddReplica, encode(&request)?, MEMBERSHIP_TIMEOUT)
            .await
            .map_err(|e| Error::Unavailable(format!("asking {existing} to add this replica: {e}")))?;
        match decode::<MembershipReply>(&bytes)? {
            MembershipReply::Done => Ok(()),
            MembershipReply::NotLeader(_) => Err(Error::Unavailable(format!("{existing} knows no leader; try again"))),
            MembershipReply::Refused(why) => Err(Error::Refused(why)),
        }
    }

    /// Records that the join finished: from now on a plain start takes this replica's
    /// place in its cluster.
    pub async fn joined(&self) -> Result<(), Error> {
        let sm = self.inner.sm.clone();
        blocking(move || {
            let tx = sm.db().begin_write()?;
            state::put(&tx, state::ROLE, &Role::Member)?;
            Ok(tx.commit()?)
        })
        .await
    }

    /// Whether this replica is still to receive its first data from the leader.
    pub fn waiting_to_join(&self) -> bool {
        self.metrics().last_applied.is_none()
    }
}
