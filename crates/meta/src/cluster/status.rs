//! What a replica knows of its cluster: the quorum, the figures for metrics, and every
//! member's own view, asked of it.

use super::*;

impl Meta {
    /// Whether this replica is with a quorum: it leads and a majority answered within
    /// two election timeouts, or it follows a leader it has heard from.
    pub fn has_quorum(&self) -> bool {
        if self.is_retired() {
            return false;
        }
        let m = self.metrics();
        let window = self.inner.raft.config().election_timeout_max * 2;
        match m.state {
            ServerState::Leader => self.sole_voter() || m.millis_since_quorum_ack.is_some_and(|ms| ms < window),
            ServerState::Follower | ServerState::Learner => m.current_leader.is_some(),
            ServerState::Candidate | ServerState::Shutdown => false,
        }
    }

    /// The replication figures.
    pub fn gauges(&self) -> Gauges {
        let m = self.metrics();
        Gauges {
            term: m.current_term,
            leader: m.state == ServerState::Leader,
            last_log_index: m.last_log_index.unwrap_or(0),
            applied_index: m.last_applied.map_or(0, |l| l.index),
            voters: m.membership_config.voter_ids().count() as u64,
            learners: m.membership_config.membership().learner_ids().count() as u64,
            quorum: self.has_quorum(),
        }
    }

    /// Why writes fail without a quorum, for the client.
    pub(super) fn no_quorum(&self) -> Error {
        if self.is_retired() {
            return Error::Refused(format!("replica {} was removed from its cluster", self.replica_id()));
        }
        let m = self.metrics();
        let voters = m.membership_config.voter_ids().count();
        Error::NoQuorum(format!(
            "no quorum: replica {} cannot reach a majority ({} of {}) of the cluster's replicas; writes are refused until it can",
            self.replica_id(),
            voters / 2 + 1,
            voters
        ))
    }

    /// This replica's view of itself.
    pub(super) fn own_status(&self) -> MemberStatus {
        let m = self.metrics();
        let voter = m.membership_config.voter_ids().any(|id| id == self.inner.id);
        MemberStatus {
            id: self.replica_id(),
            address: self.inner.address.clone(),
            voter,
            leader: m.state == ServerState::Leader,
            reachable: true,
            state: format!("{:?}", m.state).to_lowercase(),
            term: m.current_term,
            last_log_index: m.last_log_index,
            applied_index: m.last_applied.map(|l| l.index),
            lag: None,
            quorum: self.has_quorum(),
            error: self.is_retired().then(|| "removed from the cluster".to_owned()),
        }
    }

    /// The cluster: every member's own view (asked of it), and the lag behind the leader.
    pub async fn status(&self) -> ClusterStatus {
        let m = self.metrics();
        let members: Vec<(u64, BasicNode)> = m.membership_config.nodes().map(|(id, node)| (*id, node.clone())).collect();
        let voters: BTreeSet<u64> = m.membership_config.voter_ids().collect();
        let voters = &voters;
        let asks = members.iter().map(|(id, node)| async move {
            if *id == self.inner.id {
                return self.own_status();
            }
            let unreachable = |why: String| MemberStatus {
                id: replica::format_id(*id),
                address: node.addr.clone(),
                voter: voters.contains(id),
                leader: false,
                reachable: false,
                state: "unreachable".into(),
                term: 0,
                last_log_index: None,
                applied_index: None,
                lag: None,
                quorum: false,
                error: Some(why),
            };
            match self.send(&node.addr, Endpoint::Status, Vec::new(), STATUS_TIMEOUT).await {
                Ok(bytes) => decode::<MemberStatus>(&bytes).unwrap_or_else(|e| unreachable(e.to_string())),
                Err(e) => unreachable(e.message),
            }
        });
        let mut members = futures_util::future::join_all(asks).await;
        let leader_log = members.iter().find(|s| s.leader).and_then(|s| s.last_log_index);
        for member in &mut members {
            member.lag = match (leader_log, member.applied_index) {
                (Some(log), Some(applied)) => Some(log.saturating_sub(applied)),
                _ => None,
            };
        }
        members.sort_by(|a, b| a.id.cmp(&b.id));
        ClusterStatus {
            replica: self.replica_id(),
            cluster: self.inner.cluster.clone(),
            leader: m.current_leader.map(replica::format_id),
            quorum: self.has_quorum(),
            members,
        }
    }
}
