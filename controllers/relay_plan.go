package controllers

import (
	appsv1 "k8s.io/api/apps/v1"
)

// relayInput is what the decision about an instance's relay tier looks at.
type relayInput struct {
	// Wanted: the spec has a relay section.
	Wanted bool
	// Exists: a relay Deployment or Service of the instance exists.
	Exists bool
	// Ready: the relay Deployment has a replica available.
	Ready bool
	// TLSUsable: the spec asks for no TLS, or the relay's TLS Secret holds
	// what the relays and the agents need.
	TLSUsable bool
	// AgentsOnRelay: the agent DaemonSet's template opens the relay.
	AgentsOnRelay bool
	// AgentsRolledOut: every agent pod runs the DaemonSet's template.
	AgentsRolledOut bool
}

// relayPlan is what to do with the relay tier.
type relayPlan struct {
	// Apply the relay Deployment and Service.
	Apply bool
	// PointAgents at the relay (else at the store).
	PointAgents bool
	// Remove the relay Deployment and Service.
	Remove bool
}

// planRelay decides what to do with the relay tier so that no agent is
// ever pointed at a relay that is not there: the agents move to the relay
// once one relay is available (and stay there, through the relays'
// rollouts, while the section is set), and the relays go only once every
// agent has moved back to the store. Agents on the store move only to a
// relay they can verify: a TLS Secret that would fail them keeps them on
// the store.
func planRelay(in relayInput) relayPlan {
	if in.Wanted {
		return relayPlan{Apply: true, PointAgents: in.AgentsOnRelay || (in.Ready && in.TLSUsable)}
	}
	return relayPlan{Remove: in.Exists && !in.AgentsOnRelay && in.AgentsRolledOut}
}

// rolledOut reports whether every pod of the DaemonSet ds runs its current
// template; a DaemonSet that does not exist has no pods left to move.
func rolledOut(ds *appsv1.DaemonSet) bool {
	if ds == nil {
		return true
	}
	s := ds.Status
	return s.ObservedGeneration >= ds.Generation && s.UpdatedNumberScheduled >= s.DesiredNumberScheduled
}
