package controllers

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
)

// relayObserved is what a reconcile saw of the relay tier, for the status.
type relayObserved struct {
	// Wanted: the spec has a relay section.
	Wanted bool
	// Deployment is the relay Deployment the instance controls, nil when
	// there is none (yet).
	Deployment *appsv1.Deployment
	// TLSProblem says why the relay's TLS Secret is not usable; nil when
	// it is, or when the spec asks for no TLS.
	TLSProblem error
}

// relayCondition is the RelayAvailable condition, and false when the
// instance has none (no relay section).
func relayCondition(o relayObserved) (condition, bool) {
	if !o.Wanted {
		return condition{}, false
	}
	if o.TLSProblem != nil {
		msg := o.TLSProblem.Error()
		if d := o.Deployment; d != nil {
			msg += "; " + relayCount(d)
		}
		return condition{metav1.ConditionFalse, whycachev1.ReasonRelayTLSInvalid, msg}, true
	}
	d := o.Deployment
	switch {
	case d == nil:
		return condition{metav1.ConditionFalse, whycachev1.ReasonRelayNotCreated, "the relay Deployment does not exist yet"}, true
	case d.Status.AvailableReplicas < 1:
		msg := relayCount(d)
		if why := deploymentTrouble(d); why != "" {
			msg += ": " + why
		}
		return condition{metav1.ConditionFalse, whycachev1.ReasonRelaysUnavailable, msg}, true
	}
	return condition{metav1.ConditionTrue, whycachev1.ReasonRelaysAvailable, relayCount(d)}, true
}

// relayCount says how many of the Deployment's relays are available.
func relayCount(d *appsv1.Deployment) string {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	return fmt.Sprintf("%d of %d relays are available", d.Status.AvailableReplicas, want)
}

// deploymentTrouble is the message of the Deployment's condition that
// says why its pods do not come up (a quota, a stalled rollout), or "".
func deploymentTrouble(d *appsv1.Deployment) string {
	for _, c := range d.Status.Conditions {
		switch {
		case c.Type == appsv1.DeploymentReplicaFailure && c.Status == "True",
			c.Type == appsv1.DeploymentProgressing && c.Status == "False":
			return c.Message
		}
	}
	return ""
}
