package v1alpha1

// Condition types of a WhycacheInstance. Each is always present once the
// operator has reconciled the instance, but RelayAvailable, which is
// present only while the spec has a relay section.
const (
	// ConditionReady is True when the spec is valid, the log store is
	// reachable, every desired node's agent is ready, snapshots (when
	// configured) are healthy, and a relay (when the spec has a relay
	// section) is available.
	ConditionReady = "Ready"
	// ConditionLogStoreReachable is True when the operator's last read of
	// the log store (its Secret, then the latest id, horizon and nodes)
	// succeeded.
	ConditionLogStoreReachable = "LogStoreReachable"
	// ConditionNodesReady is True when the agent DaemonSet has at least one
	// desired node and every desired node runs a ready agent of the current
	// pod template.
	ConditionNodesReady = "NodesReady"
	// ConditionSnapshotsHealthy is True when snapshots are not configured,
	// or when the newest finished snapshot Job succeeded (or none has run
	// yet) and no scheduled run was missed since.
	ConditionSnapshotsHealthy = "SnapshotsHealthy"
	// ConditionDegraded is True when something needs a person: an invalid
	// spec, an unreachable log store, a failed snapshot or rewrite Job,
	// lagging nodes, or a relay TLS Secret that does not fit.
	ConditionDegraded = "Degraded"
	// ConditionRelayAvailable is present while the spec has a relay
	// section, and True when the relay Deployment has at least one
	// available relay (the message counts them) and its TLS Secret, when
	// the spec names one, is usable: it holds a key pair whose certificate
	// names the relay Service and chains to the CA the agents are given.
	ConditionRelayAvailable = "RelayAvailable"
)

// Condition reasons.
const (
	// ReasonReady: everything is as it should be.
	ReasonReady = "Ready"
	// ReasonInvalidSpec: the spec passed the CRD's validation but the
	// operator cannot use it (for example a cron field out of range).
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonReachable: the log store answered.
	ReasonReachable = "Reachable"
	// ReasonSecretNotFound: the Secret or its key with the store URL is missing.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonStoreUnreachable: opening or reading the log store failed.
	ReasonStoreUnreachable = "StoreUnreachable"
	// ReasonNotChecked: the log store has not been read yet.
	ReasonNotChecked = "NotChecked"
	// ReasonAllNodesReady: every desired node runs a ready agent.
	ReasonAllNodesReady = "AllNodesReady"
	// ReasonNodesNotReady: some desired nodes have no ready agent.
	ReasonNodesNotReady = "NodesNotReady"
	// ReasonRollingUpdate: agents of an older pod template are still running.
	ReasonRollingUpdate = "RollingUpdate"
	// ReasonNoNodes: no node matches the agent's node selector.
	ReasonNoNodes = "NoNodes"
	// ReasonNodesLagging: some reporting nodes are more than maxLagIDs behind.
	ReasonNodesLagging = "NodesLagging"
	// ReasonSnapshotsDisabled: the spec has no snapshots.
	ReasonSnapshotsDisabled = "SnapshotsDisabled"
	// ReasonSnapshotSucceeded: the newest finished snapshot Job succeeded.
	ReasonSnapshotSucceeded = "SnapshotSucceeded"
	// ReasonNoSnapshotYet: no snapshot Job has finished yet.
	ReasonNoSnapshotYet = "NoSnapshotYet"
	// ReasonSnapshotFailed: the newest finished snapshot Job failed.
	ReasonSnapshotFailed = "SnapshotFailed"
	// ReasonRewriteFailed: the newest finished rewrite Job failed.
	ReasonRewriteFailed = "RewriteFailed"
	// ReasonScheduleMissed: a scheduled run could not start in time.
	ReasonScheduleMissed = "ScheduleMissed"
	// ReasonAsExpected: Degraded is False.
	ReasonAsExpected = "AsExpected"
	// ReasonRelaysAvailable: at least one relay is available.
	ReasonRelaysAvailable = "RelaysAvailable"
	// ReasonRelayNotCreated: the relay Deployment does not exist yet.
	ReasonRelayNotCreated = "RelayNotCreated"
	// ReasonRelaysUnavailable: no relay is available.
	ReasonRelaysUnavailable = "RelaysUnavailable"
	// ReasonRelayTLSInvalid: the relay's TLS Secret is missing, lacks a
	// key, or holds a certificate that the agents would refuse; agents on
	// the log store do not move to the relay meanwhile.
	ReasonRelayTLSInvalid = "RelayTLSInvalid"
)
